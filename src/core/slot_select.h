// Slot choice (contract §4) and the record changes made by the booted-OS commands (§8).
// Plain values in, plain values out; the boot loop and the commands do the I/O.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "core/boot_record.h"

namespace imageinit::core {

struct SlotChoiceInput {
    BootRecord record;
    std::vector<std::string> present;   // slots that exist on this device ("a", "b", "recovery")
    std::optional<std::string> forced;  // imageinit.slot=
    std::set<std::string> failed_this_boot;  // candidates already tried and failed in this boot
};

struct Attempt {
    std::string slot;
    std::string why;    // "primary, good" / "fallback: a is good" / "forced by imageinit.slot"
    BootRecord record;  // to write durably BEFORE touching the image (tries decremented,
                        // exhausted slots marked bad, journal entry "attempt" appended)
    bool last_resort = false;  // every slot was bad; tried anyway rather than brick the device
};

struct Choice {
    std::optional<Attempt> attempt;    // nothing left when empty
    BootRecord record;                 // the record to write: attempt->record when there is an
                                       // attempt, else the changes made while choosing (exhausted
                                       // slots marked bad); equal to the input: nothing to write
    std::vector<std::string> skipped;  // "b: bad (boot attempts exhausted)" lines for the log
};

// The next candidate to try. Order: forced slot only; else primary, the other A/B slot if good,
// then recovery. A trying slot with tries left is decremented; with none left it becomes bad
// ("boot attempts exhausted") and is skipped. Rules beyond §4 (documented in slot_select.cpp):
// - forced: booted whatever its state, and its state is left as is (no try counted: the
//   bootloader, or imageinit itself before a kexec, owns that decision and already counted it);
//   no fallback to other slots.
// - a slot with no recorded state counts as good if it is the primary or "recovery"; any other
//   unrecorded slot was never installed through `install` and is only booted as a last resort.
// - when the regular candidates are used up, the remaining present slots are tried: good or
//   trying ones first, then bad or unrecorded ones with last_resort=true, primary first.
// - boot_count goes up by one per boot: on the first call (failed_this_boot empty) only.
// Choice.record is always the record to write: attempt->record when there is an attempt.
Choice choose_slot(const SlotChoiceInput& input);

// The recorded state of a slot, with the defaults above for slots never written: the primary
// and "recovery" count as good; nullopt for any other unrecorded slot.
std::optional<SlotState> slot_state(const BootRecord& record, const std::string& slot);

// The candidate failed inside the initramfs: mark it bad with the reason and complete its
// journal entry.
BootRecord record_failure(BootRecord record, const std::string& slot, const std::string& step,
                          const std::string& reason, uint32_t duration_ms);

// The watchdog reset the machine (WDIOF_CARDRESET) during the last recorded boot: the journal
// entry of the slot that was booting ("attempt") becomes "failed" at step "watchdog" with reason
// "watchdog reset". The try was already counted when the attempt was recorded, so the slot's
// health is left to the usual rules (a trying slot is tried again until its tries run out).
// Empty SLOT: no attempt in the last boot (nothing to blame); the record is returned as is.
struct WatchdogReset {
    BootRecord record;
    std::string slot;
};
WatchdogReset record_watchdog_reset(BootRecord record);

// booted-OS commands
// The running slot becomes good and primary; "recovery" only becomes good (it never becomes
// primary, so the next boot tries the A/B slots again). Unchanged record: nothing to write.
Result<BootRecord> mark_good(BootRecord record, const std::string& running);
// The slot `install` may write: never the running slot, never the proven primary, and never a
// good slot while the running one is not good (that would leave no proven image).
Result<std::string> install_target(const BootRecord& record, const std::string& running,
                                   const std::vector<std::string>& ab_slots);
// Before `install` writes the image: the target becomes bad ("install in progress") so a power
// cut during the write can never leave a half-written image marked good or trying.
BootRecord mark_installing(BootRecord record, const std::string& slot);
// After the image is written and verified: trying with `tries` (at least 1), and primary.
BootRecord mark_installed(BootRecord record, const std::string& slot, int tries);
// Primary back to the other A/B slot (the one that is not the primary); refused unless it is good.
Result<BootRecord> rollback(BootRecord record, const std::string& running);

}  // namespace imageinit::core
