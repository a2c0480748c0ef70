// Fuzz body: what compose does with one tar entry (path normalization, whiteout classification,
// the device/set-id/capability policy). Nothing accepted may name a path outside the layer, and
// no device node is kept outside /dev.
#include <sys/stat.h>

#include <string>
#include <string_view>

#include "compose/entry_policy.h"
#include "compose/whiteout.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

bool contained(std::string_view p) {
    if (p.empty()) return true;
    if (p.front() == '/' || p.back() == '/') return false;
    if (p.find('\0') != std::string_view::npos || p.find("//") != std::string_view::npos)
        return false;
    for (size_t pos = 0; pos <= p.size();) {
        size_t end = p.find('/', pos);
        if (end == std::string_view::npos) end = p.size();
        std::string_view part = p.substr(pos, end - pos);
        if (part == "." || part == "..") return false;
        pos = end + 1;
    }
    return true;
}

}  // namespace

// Input: two bytes of type and flags, two of mode, then the entry path.
void fuzz_tar_entry(const uint8_t* data, size_t size) {
    if (size < 4) return;
    static constexpr mode_t kTypes[] = {S_IFREG, S_IFDIR, S_IFLNK,  S_IFCHR,
                                        S_IFBLK, S_IFIFO, S_IFSOCK, 0};
    std::string_view raw(reinterpret_cast<const char*>(data) + 4, size - 4);

    compose::EntryDecision d = compose::classify_entry(raw);
    if (d.kind == compose::EntryKind::kReject) {
        FUZZ_CHECK(!d.reason.empty(), std::string(raw));
        return;
    }
    FUZZ_CHECK(contained(d.path), d.path);
    if (d.kind == compose::EntryKind::kWhiteout || d.kind == compose::EntryKind::kOpaque)
        FUZZ_CHECK(contained(d.target) && d.target != d.path, d.target);

    compose::TarEntryInfo e;
    e.path = d.path;
    e.type = kTypes[data[0] & 7];
    e.has_capabilities = data[0] & 8;
    e.hardlink = data[0] & 16;
    e.target_dropped = e.hardlink && (data[0] & 32);
    e.mode = static_cast<mode_t>((data[2] << 8 | data[3]) & 07777);
    compose::PolicyDecision p = compose::apply_entry_policy(e);
    bool device = S_ISCHR(e.type) || S_ISBLK(e.type);
    if (p.action == compose::EntryAction::kKeep) {
        FUZZ_CHECK(!device || d.path.starts_with("dev/"), d.path);
        FUZZ_CHECK(!e.target_dropped, d.path);
        FUZZ_CHECK(p.warning.empty(), p.warning);
    } else {
        FUZZ_CHECK(p.warning.find("'" + d.path + "'") != std::string::npos, p.warning);
    }
    FUZZ_CHECK(!p.set_id || (e.mode & (S_ISUID | S_ISGID)), d.path);
    FUZZ_CHECK(p.capabilities ==
                   (e.has_capabilities && p.action == compose::EntryAction::kKeep && !device),
               d.path);
}

}  // namespace imageinit::fuzz
