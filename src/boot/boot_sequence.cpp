// The boot sequence (see boot_sequence.h). Slot choice is core::choose_slot; this file only
// sequences the steps, keeps the undo guards, and records outcomes durably.
#include "boot/boot_sequence.h"

#include <sys/mount.h>

#include <algorithm>
#include <set>

#include "boot/apply_plan.h"
#include "boot/slot_kernel.h"
#include "boot/integrity.h"
#include "boot/signature_check.h"
#include "boot/hooks.h"
#include "boot/state_store.h"
#include "core/mount_plan.h"
#include "core/mount_spec.h"
#include "core/slot_select.h"
#include "core/systemd_units.h"
#include "sys/log.h"

namespace imageinit::boot {
namespace {

constexpr size_t kMaxSpecBytes = 8 << 20;
constexpr const char* kSlotsDir = "slots";
const std::vector<std::string> kKnownSlots = {"a", "b", "recovery"};
const std::vector<std::string> kImageTypes = {"squashfs", "erofs", "ext4"};

// Contract §9: the environment of one hook stage for SLOT.
HookContext hook_context(const char* stage, const std::string& slot, bool has_persist) {
    return HookContext{stage, slot, paths::kNewRoot, has_persist ? paths::kPersistMount : "",
                       !has_persist};
}

// The step runner prefixes "step NAME: "; a fallback and the record name the step separately.
std::string reason_of(const Error& error, const std::string& step) {
    std::string prefix = "step " + step + ": ";
    return error.message.starts_with(prefix) ? error.message.substr(prefix.size())
                                             : error.message;
}

}  // namespace

BootSequence::BootSequence(Platform& platform, const core::KernelCmdline& cmdline,
                           StepRunner& steps, Clock::time_point start)
    : p_(platform), cmdline_(cmdline), cfg_(cmdline.boot), steps_(steps),
      deadline_(start + std::chrono::seconds(cmdline.boot.timeout_sec)) {}

template <typename T>
Result<T> BootSequence::slot_step(const std::string& name, const std::string& slot,
                                  const std::function<Result<T>()>& fn) {
    failed_step_ = name;
    return steps_.run<T>(name, slot, fn);
}

std::vector<std::string> BootSequence::present_slots(const core::BootRecord& record) {
    std::vector<std::string> present;
    for (const auto& name : kKnownSlots) {
        bool has_image = cfg_.slot_specs.count(name) ||
                         p_.file_exists(std::string(paths::kStateMount) + "/" + kSlotsDir + "/" +
                                        name + ".img");
        // A slot the record knows about counts as present even when its image is gone: trying
        // it then fails with "image missing", which is what the journal should say.
        if (has_image || record.slots.count(name) || name == "a") present.push_back(name);
    }
    return present;
}

Result<BootSequence::Prepared> BootSequence::prepare_slot(const std::string& slot) {
    Prepared out;
    AttachedImage image = TRY(slot_step<AttachedImage>("attach-image", slot, [&]() -> Result<AttachedImage> {
        auto spec = cfg_.slot_specs.find(slot);
        if (spec != cfg_.slot_specs.end()) {
            std::vector<std::string> found;
            auto ready = [&] {
                auto r = p_.find_devices(spec->second);
                if (r) found = *r;
                return !found.empty();
            };
            if (!ready()) (void)p_.wait_until(ready, deadline_, "slot " + slot + " '" + spec->second + "'");
            if (found.empty())
                return fail(ENODEV, "image missing: no device matches '" + spec->second + "'");
            std::string dev = TRY(pick_one(spec->second, found));
            out.image = dev;
            return AttachedImage{dev, Undo()};
        }
        std::string file = std::string(paths::kStateMount) + "/" + kSlotsDir + "/" + slot + ".img";
        out.image = file;
        if (!p_.file_exists(file)) return fail(ENOENT, "image missing: '" + file + "'");
        return p_.attach_loop(file);
    }));
    out.undo.push_back(std::move(image.undo));
    // Contract §6: a slot with verity data is only ever used through dm-verity.
    // Contract §16: with trusted certificates, every slot goes through it (and is refused there
    // without verity data and a valid signature of its root hash).
    const bool verity = has_verity_data(p_, cfg_, slot) || signatures_required(p_);
    if (verity) {
        image = TRY(slot_step<AttachedImage>("verity", slot, [&] {
            return open_slot_verity(p_, cfg_, slot, image.device, *state_root_);
        }));
        log::info("slot " + slot + ": " + image.note);
        out.undo.push_back(std::move(image.undo));
    }

    Dir root = TRY(slot_step<Dir>("mount-image", slot, [&]() -> Result<Dir> {
        std::string fstype = TRY(p_.probe_fstype(image.device));
        if (std::find(kImageTypes.begin(), kImageTypes.end(), fstype) == kImageTypes.end())
            return fail(EINVAL, "'" + out.image + "' holds '" + fstype +
                                    "', not a slot image (squashfs, erofs or ext4)");
        out.fstype = fstype;
        p_.load_module("fs-" + fstype);
        // nodev (docs/security.md): a device node an image carries outside /dev opens nothing.
        // The image's own /dev is covered by the devtmpfs moved in, whose flags are its own.
        out.undo.push_back(TRY(p_.mount_path(image.device, paths::kNewRoot, fstype,
                                             MS_RDONLY | MS_NODEV, "")));
        return p_.open_dir(paths::kNewRoot);
    }));

    core::MountSpec spec = TRY(slot_step<core::MountSpec>("read-spec", slot, [&]() -> Result<core::MountSpec> {
        auto text = p_.read_in_root(root, std::string(core::kSpecPathInImage), kMaxSpecBytes);
        if (!text) {
            if (text.error().code != ENOENT) return Unexpected(std::move(text).error());
            return core::default_mount_spec();
        }
        return core::parse_mount_spec(*text, core::kSpecPathInImage);
    }));
    out.spec_file = spec.is_default ? "(default spec)" : std::string(core::kSpecPathInImage);

    core::MountPlan plan = TRY(slot_step<core::MountPlan>("plan-mounts", slot, [&]() {
        return core::plan_mounts(spec, core::PlanContext{slot, persist_root_.has_value()});
    }));
    out.degraded = plan.degraded;
    for (const auto& w : plan.warnings) out.warnings.push_back(w);

    // pre-mount: the image is mounted read-only and its spec is read, nothing of it is mounted
    // yet (docs/hooks.md). Exit status 100 fails the slot; other failures are warnings.
    TRY(slot_step<void>(kStagePreMount, slot, [&] {
        return run_hook_stage(p_, hook_context(kStagePreMount, slot, persist_root_.has_value()),
                              kHooksDir, kHookTimeLimit, out.warnings);
    }));

    Applied applied = TRY(slot_step<Applied>("apply-mounts", slot, [&]() {
        ApplyContext ctx{&root, persist_root_ ? &*persist_root_ : nullptr, &*overlay_store_,
                         out.spec_file, spec.is_default, slot + "/"};
        return apply_plan(p_, plan, ctx, out.undo);
    }));
    out.mounts = std::move(applied.mounts);
    out.plan = plan;
    for (auto& w : applied.warnings) out.warnings.push_back(std::move(w));

    TRY(slot_step<void>("check-init", slot, [&]() -> Result<void> {
        for (const char* dir : {"/dev", "/proc", "/sys", "/run"})
            if (auto d = p_.open_mount_point(root, dir); !d)
                return fail(d.error().code, std::string("the image has no '") + dir +
                                                "' directory to move the initramfs mounts to");
        auto r = p_.check_executable(root, cfg_.init);
        if (!r) return fail(r.error().code, "no init in the image: " + r.error().message);
        return ok();
    }));

    // Contract §7: a slot carrying another kernel is booted by that kernel (kexec, slot forced);
    // a load that fails is a failed attempt of this slot. Its hooks run in the kexec'd boot.
    out.kexec = TRY(slot_step<bool>("kexec-load", slot, [&] {
        return load_slot_kernel(p_, root, slot, cmdline_);
    }));
    if (out.kexec) return out;
    // In the initramfs a corrupt block fails the slot (EIO, same-boot fallback); from the
    // hand-over on it must restart the machine so it becomes a counted failed boot.
    if (verity)
        TRY(slot_step<void>("verity-restart", slot,
                            [&] { return p_.arm_verity_restart(verity_name(slot)); }));

    TRY(slot_step<void>(kStagePrePivot, slot, [&] {
        return run_hook_stage(p_, hook_context(kStagePrePivot, slot, persist_root_.has_value()),
                              kHooksDir, kHookTimeLimit, out.warnings);
    }));
    return out;
}

// Code between the steps of an attempt can throw too (a push_back, a string): the attempt fails
// at the step it was in, its guards unwind, and the boot falls back (issue 19).
Result<BootSequence::Prepared> BootSequence::guarded_prepare_slot(const std::string& slot) {
    try {
        return prepare_slot(slot);
    } catch (...) {
        return Unexpected(with_context(current_exception_error(), "step " + failed_step_));
    }
}

void BootSequence::save(const core::BootRecord& record) {
    auto r = store_record(p_, *state_root_, record);
    if (!r) {
        std::string warning = "could not write the boot-state record: " + r.error().message;
        log::warning(warning);
        report_.warnings.push_back(warning);
    }
}

Result<Handover> BootSequence::run() {
    TRY(find_state());
    TRY(find_persist());
    TRY(steps_.run<void>("overlay-store", "", [&]() -> Result<void> {
        base_undo_.push_back(TRY(p_.mount_path("tmpfs", paths::kOverlayStore, "tmpfs",
                                               MS_NOSUID | MS_NODEV, "mode=0700")));
        overlay_store_ = TRY(p_.open_dir(paths::kOverlayStore));
        return ok();
    }));

    LoadedRecord loaded = load_record(p_, *state_root_);
    if (!loaded.warning.empty()) {
        (loaded.record == core::default_record() && loaded.warning.rfind("no boot-state", 0) == 0
             ? log::notice
             : log::warning)(loaded.warning);
        report_.warnings.push_back(loaded.warning);
    }
    core::BootRecord record = loaded.record;
    const bool watchdog_reset = watchdog_reset_ && watchdog_reset_();
    if (watchdog_reset) {
        auto blamed = core::record_watchdog_reset(record);
        std::string warning =
            blamed.slot.empty()
                ? "the last boot ended in a watchdog reset before any slot was tried"
                : "the last boot of slot " + blamed.slot +
                      " ended in a watchdog reset: recorded as its failed try";
        log::warning(warning);
        report_.warnings.push_back(warning);
        record = std::move(blamed.record);
    }
    std::set<std::string> failed;
    std::string last_error = "no slot to try";
    for (;;) {
        core::SlotChoiceInput input{record, present_slots(record), cfg_.forced_slot, failed};
        core::Choice choice = core::choose_slot(input);
        for (const auto& s : choice.skipped) log::notice("skipping slot " + s);
        if (!choice.attempt) {
            // The first choice of a boot also writes a watchdog note that no attempt carried.
            if (!(choice.record == record) || (watchdog_reset && failed.empty()))
                save(choice.record);
            return fail(ENOENT, "no bootable slot left (last error: " + last_error + ")");
        }
        core::Attempt& attempt = *choice.attempt;
        if (attempt.last_resort)
            log::warning("every slot is marked bad: trying slot " + attempt.slot +
                         " as a last resort rather than giving up");
        log::notice("trying slot " + attempt.slot + " (" + attempt.why + ")");

        // Contract §4.3: the attempt (tries decremented) is durable before the image is touched,
        // so a hang or power cut from here on counts as a failed try.
        auto recorded = steps_.run<void>("record-attempt", attempt.slot, [&] {
            return store_record(p_, *state_root_, attempt.record);
        });
        if (!recorded && attempt.record.slots.count(attempt.slot) &&
            attempt.record.slots.at(attempt.slot).health == core::SlotHealth::kTrying) {
            // An untested image whose try cannot be counted could loop forever: skip it. The
            // record keeps its old counts: this boot never used the try.
            failed.insert(attempt.slot);
            report_.fallbacks.push_back(
                {attempt.slot, "record-attempt", reason_of(recorded.error(), "record-attempt")});
            last_error = recorded.error().message;
            continue;
        }
        record = attempt.record;

        auto start = steps_.now();
        auto prepared = guarded_prepare_slot(attempt.slot);
        if (!prepared) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steps_.now() - start);
            last_error = prepared.error().message;
            log::error("slot " + attempt.slot + " failed, falling back: " + last_error);
            std::string reason = reason_of(prepared.error(), failed_step_);
            report_.fallbacks.push_back({attempt.slot, failed_step_, reason});
            failed.insert(attempt.slot);
            record = core::record_failure(record, attempt.slot, failed_step_, reason,
                                          static_cast<uint32_t>(ms.count()));
            save(record);
            continue;  // the failed slot's guards unwound when `prepared` went out of scope
        }

        if (prepared->kexec) {  // the mounts unwind; the kernel holds its own copy of the files
            Handover h;
            h.kexec = true;
            return h;
        }
        report_.slot = attempt.slot;
        report_.why = attempt.why;
        report_.last_resort = attempt.last_resort;
        report_.image = prepared->image;
        report_.fstype = prepared->fstype;
        report_.spec_file = prepared->spec_file;
        report_.init = cfg_.init;
        report_.mounts = prepared->mounts;
        report_.degraded = report_.degraded || prepared->degraded;
        for (const auto& w : prepared->warnings) {
            log::warning(w);
            report_.warnings.push_back(w);
        }
        // The slot is ready: a report that cannot be written (full /run) is a warning, not a
        // reason to refuse a good image.
        auto reported = steps_.run<void>("write-report", "", [&]() -> Result<void> {
            TRY(p_.write_file(paths::kSlotFile, attempt.slot + "\n"));
            return p_.write_file(paths::kReportFile,
                                 report_to_json(report_, steps_.records(), steps_.total_ms()));
        });
        if (!reported) log::warning("no boot report for the booted system: " +
                                    reported.error().message);
        if (auto units = write_systemd_units(prepared->plan); !units)
            log::warning("no mount units for systemd: " + units.error().message);
        for (auto& u : prepared->undo) u.commit();
        for (auto& u : base_undo_) u.commit();
        Handover h{paths::kNewRoot, cfg_.init, {cfg_.init}};
        for (const auto& a : cfg_.init_args) h.argv.push_back(a);
        return h;
    }
}

// The booted OS's systemd learns the mounts made here and their order at shutdown
// (core/systemd_units.h). /run moves into the new root, so the units are there for it.
Result<void> BootSequence::write_systemd_units(const core::MountPlan& plan) {
    return steps_.run<void>("systemd-units", "", [&]() -> Result<void> {
        core::UnitContext ctx{state_device_, paths::kStateMount,
                              persist_root_ ? persist_device_ : std::string(),
                              paths::kPersistMount};
        Dir run = TRY(p_.open_dir("/run"));
        TRY(p_.make_dirs(run, paths::kSystemdUnitDir));
        for (const auto& u : core::systemd_mount_units(plan, ctx))
            TRY(p_.write_file(std::string("/run/") + paths::kSystemdUnitDir + "/" + u.name,
                              u.content));
        return ok();
    });
}

}  // namespace imageinit::boot
