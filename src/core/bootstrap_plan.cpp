// Bootstrap planning: layout sizes, size parsing, and the decision about the disk as found.
#include "core/bootstrap_plan.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace imageinit::core {
namespace {

constexpr uint64_t kEspMin = 64 * kMiB;
constexpr uint64_t kEspSlack = 16 * kMiB;
constexpr uint64_t kStateSlack = 64 * kMiB;
constexpr uint64_t kPersistMin = 32 * kMiB;
constexpr uint64_t kEdge = kMiB;  // GPT header and entries in front, their backup at the end

uint64_t align_up(uint64_t n) { return (n + kMiB - 1) / kMiB * kMiB; }

bool same_place(const PartitionPlan& a, const PartitionPlan& b) {
    auto upper = [](std::string s) {
        for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return s;
    };
    return a.name == b.name && upper(a.type_guid) == upper(b.type_guid) && a.start == b.start &&
           a.size == b.size;
}

}  // namespace

Result<BootstrapLayout> plan_layout(const BootstrapSizes& s, const std::string& disk_name) {
    uint64_t esp = std::max(kEspMin, align_up(2 * s.boot_files + kEspSlack));
    uint64_t state = align_up(2 * (s.image + s.image / 4) + s.recovery + kStateSlack);
    uint64_t persist_min = s.persist ? align_up(s.persist) : kPersistMin;
    if (s.persist && s.persist < kPersistMin)
        return fail("--persist-size " + format_size(s.persist) + " is below the smallest " +
                    "persistent partition, " + format_size(kPersistMin));
    BootstrapLayout l;
    l.needed = kEdge + esp + state + persist_min + kEdge;
    if (s.disk < l.needed)
        return fail("disk '" + disk_name + "' is too small: " + format_size(s.disk) +
                    ", the layout needs " + format_size(l.needed) + " (ESP " + format_size(esp) +
                    ", STATE " + format_size(state) + ", PERSIST " + format_size(persist_min) +
                    ")");
    uint64_t usable_end = (s.disk - kEdge) / kMiB * kMiB;
    uint64_t at = kEdge;
    l.parts.push_back({"esp", kTypeEsp, "vfat", "ESP", at, esp});
    at += esp;
    l.parts.push_back({"state", kTypeLinuxData, "ext4", "STATE", at, state});
    at += state;
    uint64_t persist = s.persist ? persist_min : usable_end - at;
    bool luks = s.encryption != PersistEncryption::kNone;
    l.parts.push_back(
        {"persist", kTypeLinuxData, luks ? "luks2+ext4" : "ext4", "PERSIST", at, persist});
    return l;
}

Result<PersistEncryption> parse_encrypt_persist(const std::string& value) {
    if (value.empty() || value == "=keyfile") return PersistEncryption::kKeyFile;
    if (value == "=tpm2") return PersistEncryption::kTpm2;
    return fail("--encrypt-persist takes =keyfile or =tpm2, not '" + value.substr(1) + "'");
}

PersistKeyPlan plan_persist_key(PersistEncryption encryption,
                                const std::vector<std::string>& slots) {
    PersistKeyPlan p;
    p.luks = encryption != PersistEncryption::kNone;
    p.key_file = encryption == PersistEncryption::kKeyFile;
    if (encryption == PersistEncryption::kTpm2) {
        // No key on the disk: the sealed key and the printed recovery key are the only ways in
        // (a key file on STATE would open PERSIST for any image, docs/integrity.md).
        p.verity = true;
        p.seal_to_tpm = true;
        p.retire_format_key = true;
        p.sealed_slots = slots;
    }
    return p;
}

Result<uint64_t> parse_size(const std::string& text) {
    size_t i = 0;
    uint64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        uint64_t d = static_cast<uint64_t>(text[i] - '0');
        if (n > (UINT64_MAX - d) / 10) return fail("size '" + text + "' is too large");
        n = n * 10 + d;
        ++i;
    }
    if (i == 0) return fail("size '" + text + "' is not a number (e.g. 512M, 2G)");
    std::string unit = text.substr(i);
    uint64_t mult = 1;
    if (unit.empty() || unit == "B")
        mult = 1;
    else if (unit == "K" || unit == "KiB")
        mult = 1024;
    else if (unit == "M" || unit == "MiB")
        mult = kMiB;
    else if (unit == "G" || unit == "GiB")
        mult = 1024 * kMiB;
    else if (unit == "T" || unit == "TiB")
        mult = 1024 * 1024 * kMiB;
    else
        return fail("size '" + text + "' has an unknown unit (K, M, G or T)");
    if (n > UINT64_MAX / mult) return fail("size '" + text + "' is too large");
    return n * mult;
}

std::string format_size(uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0 || v == static_cast<double>(static_cast<uint64_t>(v)))
        std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(v), units[u]);
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

const char* action_name(DiskAction action) {
    switch (action) {
        case DiskAction::kLayOut:
            return "lay out";
        case DiskAction::kResume:
            return "resume an unfinished bootstrap";
        case DiskAction::kComplete:
            return "nothing to do (already bootstrapped with this image)";
    }
    return "?";
}

Result<DiskAction> decide_disk(const DiskFacts& f, const BootstrapLayout& layout, bool wipe) {
    if (!f.in_use.empty())
        return fail("disk '" + f.name + "' is in use (" + f.in_use.front() +
                    "): bootstrap never writes to the disk it runs from");
    if (f.partitions.empty()) return DiskAction::kLayOut;
    bool ours =
        f.partitions.size() == layout.parts.size() &&
        std::equal(f.partitions.begin(), f.partitions.end(), layout.parts.begin(), same_place);
    if (ours && f.boot_loader_present && f.slots_match_source) return DiskAction::kComplete;
    if (wipe) return DiskAction::kLayOut;
    if (ours && !f.boot_loader_present) return DiskAction::kResume;
    if (ours)
        return fail("disk '" + f.name + "' is a bootstrapped device with another image; " +
                    "--wipe replaces it (everything on it is lost)");
    return fail("disk '" + f.name + "' has " + std::to_string(f.partitions.size()) + " partition" +
                (f.partitions.size() == 1 ? "" : "s") +
                "; --wipe replaces them (everything on it is lost)");
}

std::string describe_layout(const BootstrapLayout& l) {
    std::string out;
    int n = 1;
    for (const auto& p : l.parts) {
        out += "  " + std::to_string(n++) + " " + p.name + ": " + format_size(p.size) + " at " +
               format_size(p.start) + ", " + p.fs + " LABEL=" + p.label + ", type " + p.type_guid +
               "\n";
    }
    return out;
}

}  // namespace imageinit::core
