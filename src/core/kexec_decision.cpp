// Slot-owned kernels, the pure decision (see kexec_decision.h).
#include "core/kexec_decision.h"

#include <cerrno>
#include <cstdint>
#include <vector>

namespace imageinit::core {
namespace {

constexpr size_t kHeaderMagicAt = 0x202;  // "HdrS"
constexpr size_t kProtocolAt = 0x206;     // boot protocol version, little endian
constexpr size_t kVersionPtrAt = 0x20E;   // offset of the version string, minus 0x200
constexpr size_t kMaxVersionLen = 256;

uint16_t le16(std::string_view s, size_t at) {
    return static_cast<uint16_t>(static_cast<unsigned char>(s[at]) |
                                 static_cast<unsigned char>(s[at + 1]) << 8);
}

// The words of a command line with their quotes kept, so the words we do not touch go to the
// next kernel exactly as they came.
std::vector<std::string> raw_words(std::string_view cmdline) {
    std::vector<std::string> words;
    std::string word;
    bool in_quotes = false;
    for (char c : cmdline) {
        if (c == '"') in_quotes = !in_quotes;
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (space && !in_quotes) {
            if (!word.empty()) words.push_back(std::move(word));
            word.clear();
            continue;
        }
        word += c;
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
}

std::string key_of(const std::string& word) {
    std::string key;
    for (char c : word.substr(0, word.find('=')))
        if (c != '"') key += c;
    return key;
}

}  // namespace

std::optional<std::string> bzimage_version(std::string_view head) {
    if (head.size() < kVersionPtrAt + 2 || head.substr(kHeaderMagicAt, 4) != "HdrS" ||
        le16(head, kProtocolAt) < 0x200)
        return std::nullopt;
    size_t at = static_cast<size_t>(le16(head, kVersionPtrAt)) + 0x200;
    if (le16(head, kVersionPtrAt) == 0 || at >= head.size()) return std::nullopt;
    std::string_view rest = head.substr(at, kMaxVersionLen);
    size_t end = rest.find('\0');
    if (end == std::string_view::npos || end == 0) return std::nullopt;
    for (unsigned char c : rest.substr(0, end))
        if (c < 0x20 || c >= 0x7f) return std::nullopt;
    return std::string(rest.substr(0, end));
}

bool same_kernel(std::string_view image_version, std::string_view release,
                 std::string_view version) {
    // "RELEASE (BUILDER) VERSION": the release leads, uname's version string ends it.
    if (release.empty() || version.empty()) return false;
    std::string lead = std::string(release) + " ";
    std::string tail = " " + std::string(version);
    return image_version.size() >= lead.size() + tail.size() &&
           image_version.substr(0, lead.size()) == lead &&
           image_version.substr(image_version.size() - tail.size()) == tail;
}

bool has_kexec_marker(std::string_view cmdline) {
    for (const auto& w : raw_words(cmdline)) {
        if (w == "--") return false;
        if (key_of(w) == kKexecMarker) return true;
    }
    return false;
}

Result<std::string> kexec_cmdline(std::string_view cmdline, const std::string& slot) {
    std::vector<std::string> kept;
    bool after_dashes = false, inserted = false;
    const std::string added =
        "imageinit.slot=" + slot + " " + std::string(kKexecMarker) + "=" + slot;
    for (auto& w : raw_words(cmdline)) {
        if (!after_dashes && w == "--") {
            after_dashes = true;
            kept.push_back(added);
            inserted = true;
        } else if (!after_dashes && (key_of(w) == "imageinit.slot" || key_of(w) == kKexecMarker)) {
            continue;
        }
        kept.push_back(std::move(w));
    }
    if (!inserted) kept.push_back(added);
    std::string out;
    for (const auto& w : kept) out += (out.empty() ? "" : " ") + w;
    if (out.size() + 1 > kMaxCmdline)
        return fail(E2BIG, "the command line for slot " + slot + "'s kernel is " +
                               std::to_string(out.size()) + " bytes, more than the kernel takes (" +
                               std::to_string(kMaxCmdline - 1) + ")");
    return out;
}

Result<KexecDecision> decide_kexec(const KexecInput& in) {
    KexecDecision d;
    if (!in.has_kernel) {
        d.why = "slot " + in.slot + " carries no kernel: booting it with the running one";
        return d;
    }
    if (in.kexec_marker) {
        d.why = "already kexec'd into slot " + in.slot + "'s kernel (" + std::string(kKexecMarker) +
                " on the command line)";
        return d;
    }
    if (!in.has_initrd)
        return fail(ENOENT, "slot " + in.slot + " carries a kernel (" +
                                std::string(kSlotKernelPath) + ") but no " +
                                std::string(kSlotInitrdPath) + " for it");
    if (in.kernel_version &&
        same_kernel(*in.kernel_version, in.running_release, in.running_version)) {
        d.why = "slot " + in.slot + "'s kernel is the running one (" + in.running_release + ")";
        return d;
    }
    d.kexec = true;
    d.why = "slot " + in.slot + " carries kernel '" +
            in.kernel_version.value_or("(version unreadable)") + "', running '" +
            in.running_release + " " + in.running_version + "'";
    d.cmdline = TRY(kexec_cmdline(in.cmdline, in.slot));
    return d;
}

}  // namespace imageinit::core
