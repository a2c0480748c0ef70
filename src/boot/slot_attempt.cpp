// One slot attempt (BootSequence::prepare_slot) as a table of named steps: each step reads and
// fills the attempt's state, the first failure ends the attempt as one StepFailure, and the
// attempt's guards unwind when it is dropped. Split from boot_sequence.cpp, which loops slots.
#include <sys/mount.h>

#include <algorithm>

#include "base/log.h"
#include "boot/apply_plan.h"
#include "boot/boot_sequence.h"
#include "boot/hooks.h"
#include "boot/integrity.h"
#include "boot/signature_check.h"
#include "boot/slot_kernel.h"
#include "core/mount_spec.h"

namespace imageinit::boot {
namespace {

constexpr size_t kMaxSpecBytes = 8 << 20;
const std::vector<std::string> kImageTypes = {"squashfs", "erofs", "ext4"};

// Contract §9: the environment of one hook stage for SLOT.
HookContext hook_context(const char* stage, const std::string& slot, bool has_persist) {
    return HookContext{stage, slot, paths::kNewRoot, has_persist ? paths::kPersistMount : "",
                       !has_persist};
}

bool always(const BootSequence::SlotWork&) { return true; }
bool with_verity(const BootSequence::SlotWork& w) { return w.verity; }
// Contract §7: once the slot's own kernel is loaded, the rest happens in the kexec'd boot.
bool not_kexec(const BootSequence::SlotWork& w) { return !w.out.kexec; }
bool with_verity_not_kexec(const BootSequence::SlotWork& w) { return w.verity && !w.out.kexec; }
bool with_luks_persist(const BootSequence::SlotWork& w) { return w.open_persist; }

}  // namespace

// The slot attempt, in order. A step runs when its `applies` holds for the attempt so far.
const std::vector<BootSequence::SlotStep>& BootSequence::slot_steps() {
    static const std::vector<SlotStep> steps = {
        {"attach-image", always, &BootSequence::attach_image},
        {"verity", with_verity, &BootSequence::open_verity},
        {"open-persist", with_luks_persist, &BootSequence::unlock_persist},
        {"mount-image", always, &BootSequence::mount_image},
        {"read-spec", always, &BootSequence::read_spec},
        {"plan-mounts", always, &BootSequence::plan_slot_mounts},
        {kStagePreMount, always, &BootSequence::pre_mount_hooks},
        {"apply-mounts", always, &BootSequence::apply_mounts},
        {"check-init", always, &BootSequence::check_init},
        {"kexec-load", always, &BootSequence::kexec_load},
        {"verity-restart", with_verity_not_kexec, &BootSequence::arm_verity_restart},
        {kStagePrePivot, not_kexec, &BootSequence::pre_pivot_hooks},
    };
    return steps;
}

BootSequence::SlotOutcome BootSequence::prepare_slot(const std::string& slot) {
    SlotWork work;
    work.slot = slot;
    work.open_persist = persist_location_.has_value();
    const char* current = slot_steps().front().name;
    // Code around the steps can throw too (a push_back, a string): the attempt fails at the
    // step it was in, its guards unwind, and the boot falls back (issue 19).
    try {
        for (const auto& step : slot_steps()) {
            current = step.name;
            if (!step.applies(work)) continue;
            auto failed =
                steps_.run_slot_step(step.name, slot, [&] { return (this->*step.run)(work); });
            if (failed) return std::move(*failed);
        }
    } catch (...) {
        Error e = current_exception_error();
        return StepFailure{current, e.code, std::move(e.message)};
    }
    return SlotOutcome(std::in_place_index<0>, std::move(work.out));
}

Result<void> BootSequence::attach_image(SlotWork& w) {
    auto spec = cfg_.slot_specs.find(w.slot);
    if (spec != cfg_.slot_specs.end()) {
        std::vector<std::string> found;
        auto ready = [&] {
            auto r = p_.devices.find_devices(spec->second);
            if (r) found = *r;
            return !found.empty();
        };
        if (!ready())
            (void)p_.devices.wait_until(ready, deadline_,
                                        "slot " + w.slot + " '" + spec->second + "'");
        if (found.empty())
            return fail(ENODEV, "image missing: no device matches '" + spec->second + "'");
        w.out.image = TRY(pick_one(spec->second, found));
        w.device = w.out.image;
    } else {
        w.out.image = std::string(paths::kStateMount) + "/" + kSlotsDir + "/" + w.slot + ".img";
        if (!p_.files.file_exists(w.out.image))
            return fail(ENOENT, "image missing: '" + w.out.image + "'");
        AttachedImage loop = TRY(p_.mounts.attach_loop(w.out.image));
        w.out.undo.push_back(std::move(loop.undo));
        w.device = loop.device;
    }
    // Contract §6: a slot with verity data is only ever used through dm-verity.
    // Contract §16: with trusted certificates, every slot goes through it (and is refused there
    // without verity data and a valid signature of its root hash).
    w.verity = has_verity_data(p_.files, cfg_, w.slot) || signatures_required(p_.files);
    return ok();
}

Result<void> BootSequence::open_verity(SlotWork& w) {
    AttachedImage verified = TRY(open_slot_verity(p_.files, p_.integrity, cfg_, w.slot, w.device,
                                                  *state_root_, &w.roothash));
    log::info("slot " + w.slot + ": " + verified.note);
    w.out.undo.push_back(std::move(verified.undo));
    w.device = verified.device;
    return ok();
}

Result<void> BootSequence::mount_image(SlotWork& w) {
    std::string fstype = TRY(p_.devices.probe_fstype(w.device));
    if (std::find(kImageTypes.begin(), kImageTypes.end(), fstype) == kImageTypes.end())
        return fail(EINVAL, "'" + w.out.image + "' holds '" + fstype +
                                "', not a slot image (squashfs, erofs or ext4)");
    w.out.fstype = fstype;
    p_.devices.load_module("fs-" + fstype);
    // nodev (docs/security.md): a device node an image carries outside /dev opens nothing.
    // The image's own /dev is covered by the devtmpfs moved in, whose flags are its own.
    w.out.undo.push_back(
        TRY(p_.mounts.mount_path(w.device, paths::kNewRoot, fstype, MS_RDONLY | MS_NODEV, "")));
    w.root = TRY(p_.files.open_dir(paths::kNewRoot));
    return ok();
}

Result<void> BootSequence::read_spec(SlotWork& w) {
    auto text = p_.files.read_in_root(*w.root, std::string(core::kSpecPathInImage), kMaxSpecBytes);
    if (!text && text.error().code != ENOENT) return Unexpected(std::move(text).error());
    w.spec = text ? TRY(core::parse_mount_spec(*text, core::kSpecPathInImage))
                  : core::default_mount_spec();
    w.out.spec_file = w.spec.is_default ? "(default spec)" : std::string(core::kSpecPathInImage);
    return ok();
}

Result<void> BootSequence::plan_slot_mounts(SlotWork& w) {
    w.out.plan = TRY(core::plan_mounts(w.spec, core::PlanContext{w.slot, persist_.has_value()}));
    w.out.degraded = w.out.plan.degraded;
    for (const auto& warning : w.out.plan.warnings) w.out.warnings.push_back(warning);
    return ok();
}

// pre-mount: the image is mounted read-only and its spec is read, nothing of it is mounted yet
// (docs/hooks.md). Exit status 100 fails the slot; other failures are warnings.
Result<void> BootSequence::pre_mount_hooks(SlotWork& w) {
    return run_hook_stage(p_.processes, hook_context(kStagePreMount, w.slot, persist_.has_value()),
                          kHooksDir, kHookTimeLimit, w.out.warnings);
}

Result<void> BootSequence::apply_mounts(SlotWork& w) {
    ApplyContext ctx{&*w.root,          persist_ ? &persist_->root : nullptr,
                     &*overlay_store_,  w.out.spec_file,
                     w.spec.is_default, w.slot + "/"};
    Applied applied = TRY(apply_plan(p_, w.out.plan, ctx, w.out.undo));
    w.out.mounts = std::move(applied.mounts);
    for (auto& warning : applied.warnings) w.out.warnings.push_back(std::move(warning));
    return ok();
}

Result<void> BootSequence::check_init(SlotWork& w) {
    for (const char* dir : {"/dev", "/proc", "/sys", "/run"})
        if (auto d = p_.files.open_mount_point(*w.root, dir); !d)
            return fail(d.error().code, std::string("the image has no '") + dir +
                                            "' directory to move the initramfs mounts to");
    auto r = p_.files.check_executable(*w.root, cfg_.init);
    if (!r) return fail(r.error().code, "no init in the image: " + r.error().message);
    return ok();
}

// Contract §7: a slot carrying another kernel is booted by that kernel (kexec, slot forced); a
// load that fails is a failed attempt of this slot. Its hooks run in the kexec'd boot.
Result<void> BootSequence::kexec_load(SlotWork& w) {
    w.out.kexec = TRY(load_slot_kernel(p_.kexec, p_.files, *w.root, w.slot, cmdline_));
    if (w.out.kexec) w.out.kexec_roothash = w.roothash;
    return ok();
}

// In the initramfs a corrupt block fails the slot (EIO, same-boot fallback); from the hand-over
// on it must restart the machine so it becomes a counted failed boot.
Result<void> BootSequence::arm_verity_restart(SlotWork& w) {
    return p_.integrity.arm_verity_restart(verity_name(w.slot));
}

Result<void> BootSequence::pre_pivot_hooks(SlotWork& w) {
    return run_hook_stage(p_.processes, hook_context(kStagePrePivot, w.slot, persist_.has_value()),
                          kHooksDir, kHookTimeLimit, w.out.warnings);
}

}  // namespace imageinit::boot
