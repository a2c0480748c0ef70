// The mount executor (see apply_plan.h).
#include "boot/apply_plan.h"

#include <sys/mount.h>

namespace imageinit::boot {
namespace {

using core::MountAction;
using core::PlannedMount;

std::string where(const ApplyContext& ctx, const PlannedMount& m) {
    return ctx.spec_file + ":" + std::to_string(m.line);
}

Result<Undo> mount_device(const Platform& p, const PlannedMount& m, const Dir& target) {
    auto devices = TRY(p.devices.find_devices(m.source));
    if (devices.empty()) return fail(ENODEV, "no device matches '" + m.source + "'");
    if (devices.size() > 1)
        return fail(ENOTUNIQ, "'" + m.source + "' matches " + std::to_string(devices.size()) +
                                  " devices: refusing to guess");
    std::string fstype = m.fstype;
    if (fstype.empty() || fstype == "auto") fstype = TRY(p.devices.probe_fstype(devices.front()));
    p.devices.load_module("fs-" + fstype);
    return p.mounts.mount_on(devices.front(), target, fstype, m.flags, m.data);
}

Result<Undo> apply_one(const Platform& p, const PlannedMount& m, size_t index,
                       const ApplyContext& ctx, const Dir& target) {
    switch (m.action) {
        case MountAction::kTmpfs:
            return p.mounts.mount_on("tmpfs", target, "tmpfs", m.flags, m.data);
        case MountAction::kOverlay: {
            Dir upper, work;
            if (m.upper_persistent) {
                if (!ctx.persist_root) return fail(ENODEV, "no persistent partition");
                upper = TRY(p.files.make_persist_dir(*ctx.persist_root, m.persist_dir, nullptr));
                work = TRY(p.files.make_persist_dir(*ctx.persist_root, m.work_dir, nullptr));
            } else {
                std::string base = ctx.store_prefix + std::to_string(index);
                upper = TRY(p.files.make_dirs(*ctx.overlay_store, base + "/upper"));
                work = TRY(p.files.make_dirs(*ctx.overlay_store, base + "/work"));
            }
            // The target fd doubles as the lower layer: it was opened before anything covered it.
            return p.mounts.mount_overlay(target, upper, work, target, m.flags, m.data);
        }
        case MountAction::kBind: {
            if (!ctx.persist_root) return fail(ENODEV, "no persistent partition");
            Dir source = TRY(p.files.make_persist_dir(*ctx.persist_root, m.persist_dir,
                                                      m.seed_from_image ? &target : nullptr));
            return p.mounts.bind(source, target, m.flags);
        }
        case MountAction::kDevice:
            return mount_device(p, m, target);
    }
    return fail(EINVAL, "unknown mount action");
}

}  // namespace

Result<Applied> apply_plan(const Platform& p, const core::MountPlan& plan, const ApplyContext& ctx,
                           std::vector<Undo>& undo) {
    Applied applied;
    for (size_t i = 0; i < plan.mounts.size(); ++i) {
        const PlannedMount& m = plan.mounts[i];
        auto target = p.files.open_mount_point(*ctx.root, m.target);
        if (!target) {
            if (ctx.default_spec && target.error().code == ENOENT) {
                applied.warnings.push_back("default spec: '" + m.target +
                                           "' does not exist in the image; skipped");
                continue;
            }
            return fail(target.error().code, where(ctx, m) + ": mount point '" + m.target +
                                                 "': " + target.error().message);
        }
        auto guard = apply_one(p, m, i, ctx, *target);
        if (!guard) {
            if (m.nofail) {
                applied.warnings.push_back(where(ctx, m) + ": " + m.describe() +
                                           " failed (nofail): " + guard.error().message);
                continue;
            }
            return fail(guard.error().code,
                        where(ctx, m) + ": " + m.describe() + ": " + guard.error().message);
        }
        undo.push_back(std::move(*guard));
        applied.mounts.push_back(m.describe());
    }
    return applied;
}

}  // namespace imageinit::boot
