// Slot choice (contract §4) and the record changes made by the booted-OS commands (§8).
// Plain values in, plain values out; the boot loop and the commands do the I/O.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/boot_record.h"
#include "core/result.h"

namespace imageinit::core {

struct SlotChoiceInput {
    BootRecord record;
    std::vector<std::string> present;       // slots that exist on this device ("a", "b", "recovery")
    std::optional<std::string> forced;      // imageinit.slot=
    std::set<std::string> failed_this_boot; // candidates already tried and failed in this boot
};

struct Attempt {
    std::string slot;
    std::string why;       // "primary, good" / "fallback: a is good" / "forced by imageinit.slot"
    BootRecord record;     // to write durably BEFORE touching the image (tries decremented,
                           // exhausted slots marked bad, journal entry "attempt" appended)
    bool last_resort = false;  // every slot was bad; tried anyway rather than brick the device
};

struct Choice {
    std::optional<Attempt> attempt;   // nothing left when empty
    BootRecord record;                // the record including any changes made while choosing
                                      // (exhausted slots marked bad), to write when no attempt
    std::vector<std::string> skipped; // "b: bad (boot attempts exhausted)" lines for the log
};

// The next candidate to try. Order: forced slot only; else primary, the other A/B slot if good,
// then recovery. A trying slot with tries left is decremented; with none left it becomes bad
// ("boot attempts exhausted") and is skipped.
Choice choose_slot(const SlotChoiceInput& input);

// The candidate failed inside the initramfs: mark it bad with the reason and complete its
// journal entry.
BootRecord record_failure(BootRecord record, const std::string& slot, const std::string& step,
                          const std::string& reason, uint32_t duration_ms);

// booted-OS commands
Result<BootRecord> mark_good(BootRecord record, const std::string& running);
// The slot `install` may write: never the running slot, never the proven primary.
Result<std::string> install_target(const BootRecord& record, const std::string& running,
                                   const std::vector<std::string>& ab_slots);
BootRecord mark_installed(BootRecord record, const std::string& slot, int tries);
Result<BootRecord> rollback(BootRecord record, const std::string& running);

}  // namespace imageinit::core
