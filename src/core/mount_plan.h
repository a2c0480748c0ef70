// Mount planning: a validated spec plus the boot's circumstances in, an ordered, printable list
// of mounts out. The executor (boot/apply_plan.h) applies it; `imageinit plan` prints it.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "core/mount_spec.h"

namespace imageinit::core {

struct PlanContext {
    std::string slot = "a";         // running slot: picks the slot-scope directory
    bool persist_available = true;  // false: persistent entries become temporary (degraded)
};

enum class MountAction {
    kTmpfs,    // fresh tmpfs
    kOverlay,  // lower = the image's directory at target; upper on tmpfs or persistent
    kBind,     // bind of a directory on the persistent partition
    kDevice,   // an ordinary mount of a block device / filesystem
};

struct PlannedMount {
    int line = 0;
    std::string target;  // normalised absolute path inside the new root
    MountAction action = MountAction::kTmpfs;
    std::string source;             // kDevice: device spec as written; kTmpfs: "tmpfs"
    std::string fstype;             // kDevice / kTmpfs
    unsigned long flags = 0;        // MS_* flags derived from the options: per-mount attributes
                                    // only (ro, nosuid, nodev, noexec, atime...); never MS_BIND,
                                    // MS_REC, MS_REMOUNT, MS_MOVE or propagation: `action` says
                                    // which kind of mount to make
    std::string data;               // filesystem-specific options for the kernel (no paths inside;
                                    // kOverlay: the executor appends its lowerdir/upperdir/workdir)
    bool upper_persistent = false;  // kOverlay: upper and work dirs on the persistent partition
    std::string persist_dir;        // kBind source / kOverlay upper, relative to the persistent
                                    // partition's root, e.g. "shared/etc/ssh"
    std::string work_dir;           // kOverlay with persistent upper: its workdir, same partition
    bool seed_from_image = false;   // kBind: created and seeded from the image on first use
    bool degraded = false;          // a persistent entry turned temporary (no persistent partition)
    bool nofail = false;            // kDevice: failure is a warning, not a failed slot
    std::string describe() const;   // one line for logs, plan output and the boot report
};

struct MountPlan {
    std::vector<PlannedMount> mounts;  // parents before children
    bool degraded = false;
    std::vector<std::string> warnings;
};

Result<MountPlan> plan_mounts(const MountSpec& spec, const PlanContext& ctx);

// Directory on the persistent partition for a persistent entry: "shared/PATH" or
// "slots/SLOT/PATH" (relative, no leading "/").
std::string persist_dir_for(const SpecEntry& entry, std::string_view slot);

std::string format_plan(const MountPlan& plan);

// For each mount, the index of the nearest earlier mount on the same path or on a parent of it
// (the one a later mount lands in), or -1. Linear in the number of mounts: each target's
// parents are looked up by path, not found by scanning the mounts before it.
std::vector<long> enclosing_mounts(const std::vector<PlannedMount>& mounts);

}  // namespace imageinit::core
