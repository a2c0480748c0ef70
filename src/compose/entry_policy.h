// What a layer may put into a slot image, decided per tar entry before anything is written:
// device nodes only under /dev, set-id files and file capabilities kept but reported. Pure.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace imageinit::compose {

// One archive entry as the policy sees it. `type` is the S_IFMT part of the mode; a hard link
// is described by the entry it links to (its type, and whether that entry was dropped).
struct TarEntryInfo {
    std::string_view path;  // normalized ("dev/null"; "" is the root)
    mode_t type = 0;
    mode_t mode = 0;                // permission and set-id bits (07777)
    bool has_capabilities = false;  // carries a security.capability xattr
    bool hardlink = false;          // a hard link to an earlier entry
    bool target_dropped = false;    // ... which the policy dropped
};

enum class EntryAction {
    kKeep,
    kDrop,  // left out of the image, with a warning
};

struct PolicyDecision {
    EntryAction action = EntryAction::kKeep;
    bool set_id = false;        // a setuid or setgid non-directory (listed in the summary)
    bool capabilities = false;  // file capabilities (listed in the summary)
    std::string warning;        // for kDrop: why, naming the entry
};

// Device nodes are the one entry kind that grants access by itself being there: a block node of
// the boot disk anywhere in the tree is raw access to it. /dev is where they belong (and in a
// booted system devtmpfs hides the image's /dev anyway).
bool under_dev(std::string_view path);

PolicyDecision apply_entry_policy(const TarEntryInfo& entry);

}  // namespace imageinit::compose
