// The mounting specification carried inside an image (/etc/imageinit/fstab, contract §5):
// fstab(5) text in, classified and validated entries out. Parsed with libmount, line by line,
// so every error carries file:line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::core {

constexpr std::string_view kSpecPathInImage = "/etc/imageinit/fstab";

enum class EntryKind {
    kTmpfs,           // tmpfs /tmp tmpfs mode=1777
    kTempOverlay,     // overlay /etc overlay x-imageinit.upper=tmpfs
    kPersistBind,     // persist:/etc/ssh /etc/ssh none bind
    kPersistOverlay,  // persist:/var /var overlay x-imageinit.upper=persist
    kDevice,          // LABEL=DATA /data ext4 nofail
};

enum class PersistScope { kShared, kSlot };

struct SpecEntry {
    std::string file;  // for messages: the spec's file name
    int line = 0;      // 1-based line in that file
    EntryKind kind = EntryKind::kTmpfs;
    std::string source;        // first field as written (decoded by libmount)
    std::string persist_path;  // persist kinds: normalised path on the persistent partition
    std::string target;        // normalised absolute mount point inside the new root
    std::string fstype;        // third field
    std::string options;       // fourth field minus x-imageinit.* and nofail
    PersistScope scope = PersistScope::kShared;
    bool nofail = false;
};

struct MountSpec {
    std::string file;  // where it came from (or "(default spec)")
    std::vector<SpecEntry> entries;
    bool is_default = false;
};

// Parses and validates. Every error reads "FILE:LINE: what is wrong" (lower-case, user text in
// single quotes, see quote_text()); the first problem in the file stops the parse, except that
// overlapping persistent paths are found once every line has been read. Beyond the five kinds:
//  - x-imageinit.upper=tmpfs|persist (overlays only), x-imageinit.scope=shared|slot (persistent
//    entries only; default shared); any other x-imageinit.* key is an error. Both are stripped
//    from `options`, and so is nofail (device entries only; it sets `nofail`).
//  - suid and dev are refused on persistent entries (the planner forces nosuid,nodev there).
//  - lowerdir/upperdir/workdir/datadir, and any filesystem option carrying a '/', are refused:
//    no path ever reaches mount(2) data. remount, move, rbind and propagation options are refused.
//  - two persistent entries of one scope may not have nested persistent paths (one would change
//    files under the other, e.g. inside a mounted overlay's upper dir).
//  - targets: normalize_path() rules, and "/", /proc, /sys, /dev and below are refused.
Result<MountSpec> parse_mount_spec(std::string_view text, std::string_view file_name);

// The spec used for an image without /etc/imageinit/fstab (documented in README).
MountSpec default_mount_spec();
extern const char kDefaultSpecText[];

const char* entry_kind_name(EntryKind kind);  // "tmpfs", "temporary overlay", ...

}  // namespace imageinit::core
