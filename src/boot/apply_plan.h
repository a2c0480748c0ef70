// The mount executor: applies a core::MountPlan inside the new root through boot::Platform.
// Every target is opened inside the root (RESOLVE_IN_ROOT) and mounted onto that fd; every mount
// pushes its undo guard so a failure later in the slot unwinds all of them.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "boot/seams.h"
#include "core/mount_plan.h"

namespace imageinit::boot {

struct ApplyContext {
    const Dir* root = nullptr;           // the new root (the image, mounted read-only)
    const Dir* persist_root = nullptr;   // the persistent partition; null when degraded
    const Dir* overlay_store = nullptr;  // tmpfs for temporary overlays' upper and work dirs
    std::string spec_file;               // for "FILE:LINE: ..." messages
    bool default_spec = false;           // missing mount points are skipped, not errors
    std::string store_prefix;            // per slot attempt: "b/", so a failed slot's overlay
                                         // uppers are never reused by the next one
};

struct Applied {
    std::vector<std::string> mounts;    // describe() of each mount made
    std::vector<std::string> warnings;  // skipped entries, nofail failures
};

// Applies the plan in order. On error the guards already pushed to `undo` stay there, so the
// caller's unwinding removes them.
Result<Applied> apply_plan(const Platform& platform, const core::MountPlan& plan,
                           const ApplyContext& ctx, std::vector<Undo>& undo);

}  // namespace imageinit::boot
