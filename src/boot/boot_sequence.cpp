// The boot sequence (see boot_sequence.h). Slot choice is core::choose_slot, a slot attempt is
// slot_attempt.cpp; this file loops over the candidates and records outcomes durably.
#include "boot/boot_sequence.h"

#include <sys/mount.h>

#include <set>

#include "base/log.h"
#include "boot/state_store.h"
#include "core/mount_plan.h"
#include "core/slot_select.h"
#include "core/systemd_units.h"

namespace imageinit::boot {
namespace {

const std::vector<std::string> kKnownSlots = {"a", "b", "recovery"};

}  // namespace
BootSequence::BootSequence(Platform platform, const core::KernelCmdline& cmdline, StepRunner& steps,
                           Clock::time_point start)
    : p_(platform),
      cmdline_(cmdline),
      cfg_(cmdline.boot),
      steps_(steps),
      deadline_(start + std::chrono::seconds(cmdline.boot.timeout_sec)) {}

std::vector<std::string> BootSequence::present_slots(const core::BootRecord& record) {
    std::vector<std::string> present;
    for (const auto& name : kKnownSlots) {
        bool has_image = cfg_.slot_specs.count(name) ||
                         p_.files.file_exists(std::string(paths::kStateMount) + "/" + kSlotsDir +
                                              "/" + name + ".img");
        // A slot the record knows about counts as present even when its image is gone: trying
        // it then fails with "image missing", which is what the journal should say.
        if (has_image || record.slots.count(name) || name == "a") present.push_back(name);
    }
    return present;
}

void BootSequence::save(const core::BootRecord& record) {
    auto r = store_record(p_.files, *state_root_, record);
    if (!r) {
        std::string warning = "could not write the boot-state record: " + r.error().message;
        log::warning(warning);
        report_.warnings.push_back(warning);
    }
}

Result<Handover> BootSequence::run() {
    TRY(find_state());
    // The persistent partition is located and opened before the slot loop; open-persist is its
    // own step so that a later change can open it per slot attempt (a TPM-sealed key needs the
    // chosen slot measured first).
    if (auto location = TRY(locate_persist())) {
        // A LUKS2 PERSIST is unlocked inside each slot attempt, once the slot is measured (its
        // key may be sealed to the slot's image: docs/integrity.md, "TPM2").
        if (location->fstype == "crypto_LUKS")
            persist_location_ = *location;
        else
            persist_ = TRY(open_persist(*location));
    }
    TRY(steps_.run<void>("overlay-store", "", [&]() -> Result<void> {
        overlay_undo_ = TRY(p_.mounts.mount_path("tmpfs", paths::kOverlayStore, "tmpfs",
                                                 MS_NOSUID | MS_NODEV, "mode=0700"));
        overlay_store_ = TRY(p_.files.open_dir(paths::kOverlayStore));
        return ok();
    }));

    LoadedRecord loaded = load_record(p_.files, *state_root_);
    if (!loaded.warning.empty()) {
        (loaded.first_boot ? log::notice : log::warning)(loaded.warning);
        report_.warnings.push_back(loaded.warning);
    }
    core::BootRecord record = loaded.record;
    if (!persist_reset_.empty())  // durable with the attempt's write: one write per boot
        core::append_journal(record, {record.boot_count + 1, "", "reset", "reset-persist",
                                      core::one_line(persist_reset_), 0});
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
            return store_record(p_.files, *state_root_, attempt.record);
        });
        if (!recorded && attempt.record.slots.count(attempt.slot) &&
            attempt.record.slots.at(attempt.slot).health == core::SlotHealth::kTrying) {
            // An untested image whose try cannot be counted could loop forever: skip it. The
            // record keeps its old counts: this boot never used the try.
            failed.insert(attempt.slot);
            report_.fallbacks.push_back({attempt.slot, "record-attempt", recorded.error().message});
            last_error = recorded.error().message;
            continue;
        }
        record = attempt.record;

        auto start = steps_.now();
        SlotOutcome outcome = prepare_slot(attempt.slot);
        if (auto* f = std::get_if<StepFailure>(&outcome)) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steps_.now() - start);
            last_error = "step " + f->step + ": " + f->message;
            // The one line for this failure (the step runner leaves slot steps to us).
            log::error("slot " + attempt.slot + " failed, falling back: " + last_error);
            report_.fallbacks.push_back({attempt.slot, f->step, f->message});
            failed.insert(attempt.slot);
            record = core::record_failure(record, attempt.slot, f->step, f->message,
                                          static_cast<uint32_t>(ms.count()));
            save(record);
            continue;  // the failed slot's guards unwound with `outcome`
        }
        Prepared* prepared = &std::get<Prepared>(outcome);

        if (prepared->kexec) {  // the mounts unwind; the kernel holds its own copy of the files
            Handover h;
            h.kexec = true;
            h.kexec_roothash = prepared->kexec_roothash;
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
            TRY(p_.files.write_file(paths::kSlotFile, attempt.slot + "\n"));
            return p_.files.write_file(
                paths::kReportFile, report_to_json(report_, steps_.records(), steps_.total_ms()));
        });
        if (!reported)
            log::warning("no boot report for the booted system: " + reported.error().message);
        if (auto units = write_systemd_units(prepared->plan); !units)
            log::warning("no mount units for systemd: " + units.error().message);
        for (auto& u : prepared->undo) u.commit();
        for (auto& u : base_undo_) u.commit();
        overlay_undo_.commit();
        if (persist_)
            for (auto& u : persist_->undo) u.commit();
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
                              persist_ ? persist_->device : std::string(), paths::kPersistMount};
        Dir run = TRY(p_.files.open_dir("/run"));
        TRY(p_.files.make_dirs(run, paths::kSystemdUnitDir));
        for (const auto& u : core::systemd_mount_units(plan, ctx))
            TRY(p_.files.write_file(std::string("/run/") + paths::kSystemdUnitDir + "/" + u.name,
                                    u.content));
        return ok();
    });
}

}  // namespace imageinit::boot
