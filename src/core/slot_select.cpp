// Slot choice at boot (contract §4) and the record changes of the booted-OS commands (§8).
// Pure: the caller writes the returned record durably before it touches the chosen image.
//
// Decisions beyond the contract's text (tests in tests/unit/slot_select_test.cpp):
// - Forced slot (imageinit.slot=): booted whatever its state and left as is, no try counted and
//   no fallback. Whoever forced it owns the decision and the counting; in particular imageinit's
//   own kexec hand-over forces the slot whose try it already counted (§7).
// - Unrecorded slots: the primary and "recovery" count as good (first boot, factory recovery);
//   any other slot without a state was never installed through `install` (an interrupted write,
//   a lost record) and is not a regular candidate.
// - Last resort: once the regular candidates are used up, the remaining present slots are tried
//   rather than bricking the device on marks that may come from transient failures (a slow disk,
//   a power cut): good or trying ones first (a trying slot that is not primary, e.g. after a
//   rollback), then bad or unrecorded ones with Attempt.last_resort, each group primary first.
// - One write per boot on the normal path: boot_count is bumped on the first choice of a boot
//   (failed_this_boot empty), and the attempt's record carries every change of that choice.
#include "core/slot_select.h"

#include <algorithm>
#include <climits>

#include "core/cmdline.h"

namespace imageinit::core {
namespace {

constexpr const char* kExhausted = "boot attempts exhausted";

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

bool is_good(const std::optional<SlotState>& st) { return st && st->health == SlotHealth::kGood; }

std::string describe(const std::optional<SlotState>& st) {
    return st ? describe_slot(*st) : "not installed yet";
}

// Shared by choose_slot's phases: the working record and what has happened to it.
struct Chooser {
    const SlotChoiceInput& in;
    BootRecord rec;
    uint64_t this_boot;
    Choice out;

    bool usable(const std::string& slot) {
        if (!contains(in.present, slot)) {
            out.skipped.push_back(slot + (in.forced ? ": forced by imageinit.slot but" : ":") +
                                  " not present");
            return false;
        }
        if (in.failed_this_boot.count(slot)) {
            out.skipped.push_back(slot + ": failed earlier in this boot");
            return false;
        }
        return true;
    }

    // A trying slot with no tries left becomes bad here, and the journal says so.
    void exhaust_if_needed(const std::string& slot) {
        auto it = rec.slots.find(slot);
        if (it == rec.slots.end() || it->second.health != SlotHealth::kTrying ||
            it->second.tries_left > 0)
            return;
        it->second = SlotState{SlotHealth::kBad, 0, kExhausted};
        rec.boot_count = this_boot;
        append_journal(rec,
                       JournalEntry{this_boot, slot, "exhausted", "select-slot", kExhausted, 0});
        out.skipped.push_back(slot + ": trying with no tries left, marked bad (" + kExhausted +
                              ")");
    }

    void attempt(const std::string& slot, std::string why, bool last_resort) {
        auto it = rec.slots.find(slot);
        if (!in.forced && it != rec.slots.end() && it->second.health == SlotHealth::kTrying) {
            --it->second.tries_left;
            why += " (" + std::to_string(it->second.tries_left) + " tries left after this one)";
        }
        rec.boot_count = this_boot;
        append_journal(rec, JournalEntry{this_boot, slot, "attempt", "", "", 0});
        out.attempt = Attempt{slot, std::move(why), rec, last_resort};
    }
};

// Regular candidates in contract order: primary, the other A/B slot(s) if good, recovery.
std::vector<std::string> regular_order(const BootRecord& r) {
    std::vector<std::string> order{r.primary};
    for (const char* ab : {"a", "b"})
        if (r.primary != ab && is_good(slot_state(r, ab))) order.push_back(ab);
    if (r.primary != "recovery") order.push_back("recovery");
    return order;
}

// Every present slot: primary, a, b, recovery, then any other names sorted.
std::vector<std::string> last_resort_order(const SlotChoiceInput& in) {
    std::vector<std::string> order;
    auto add = [&](const std::string& s) {
        if (contains(in.present, s) && !contains(order, s)) order.push_back(s);
    };
    add(in.record.primary);
    for (const char* s : {"a", "b", "recovery"}) add(s);
    std::vector<std::string> rest(in.present);
    std::sort(rest.begin(), rest.end());
    for (const auto& s : rest) add(s);
    return order;
}

}  // namespace

std::optional<SlotState> slot_state(const BootRecord& record, const std::string& slot) {
    auto it = record.slots.find(slot);
    if (it != record.slots.end()) return it->second;
    if (slot == record.primary || slot == "recovery") return SlotState{};
    return std::nullopt;
}

Choice choose_slot(const SlotChoiceInput& input) {
    uint64_t count = input.record.boot_count;
    uint64_t this_boot = input.failed_this_boot.empty() && count < UINT64_MAX ? count + 1 : count;
    Chooser c{input, input.record, this_boot, {}};

    if (input.forced) {
        const std::string& slot = *input.forced;
        if (c.usable(slot))
            c.attempt(slot, "forced by imageinit.slot (" + describe(slot_state(c.rec, slot)) + ")",
                      false);
    } else {
        for (const auto& slot : regular_order(c.rec)) {
            if (!c.usable(slot)) continue;
            c.exhaust_if_needed(slot);
            auto st = slot_state(c.rec, slot);
            std::string role = slot == c.rec.primary ? "primary"
                               : slot == "recovery"  ? "recovery"
                                                     : "fallback";
            if (is_good(st)) {
                c.attempt(slot, role + ", good", false);
                break;
            }
            if (st && st->health == SlotHealth::kTrying) {
                c.attempt(slot, role + ", trying", false);
                break;
            }
            if (st)
                c.out.skipped.push_back(slot + ": " + describe(st));
            else
                c.out.skipped.push_back(slot + ": no recorded state");
        }
    }

    if (!c.out.attempt && !input.forced) {
        std::vector<std::string> pool;
        for (const auto& slot : last_resort_order(input)) {
            if (input.failed_this_boot.count(slot)) continue;
            c.exhaust_if_needed(slot);
            pool.push_back(slot);
        }
        auto live = [&](const std::string& s) {
            auto st = slot_state(c.rec, s);
            return st && st->health != SlotHealth::kBad;
        };
        auto it = std::find_if(pool.begin(), pool.end(), live);
        if (it != pool.end()) {
            c.attempt(
                *it,
                "no regular candidate left; " + *it + " is " + describe(slot_state(c.rec, *it)),
                false);
        } else if (!pool.empty()) {
            c.attempt(pool.front(),
                      "last resort: no good or trying slot left, trying " + pool.front() +
                          " anyway (" + describe(slot_state(c.rec, pool.front())) + ")",
                      true);
        }
    }
    c.out.record = c.out.attempt ? c.out.attempt->record : c.rec;
    return std::move(c.out);
}

BootRecord record_failure(BootRecord record, const std::string& slot, const std::string& step,
                          const std::string& reason, uint32_t duration_ms) {
    std::string why = one_line(step.empty() ? reason : step + ": " + reason);
    record.slots[slot] = SlotState{SlotHealth::kBad, 0, why};
    for (auto it = record.journal.rbegin(); it != record.journal.rend(); ++it) {
        if (it->boot == record.boot_count && it->slot == slot && it->outcome == "attempt") {
            it->outcome = "failed";
            it->step = step;
            it->reason = one_line(reason);
            it->duration_ms = duration_ms;
            return record;
        }
    }
    append_journal(record, JournalEntry{record.boot_count, slot, "failed", step, one_line(reason),
                                        duration_ms});
    return record;
}

WatchdogReset record_watchdog_reset(BootRecord record) {
    for (auto it = record.journal.rbegin(); it != record.journal.rend(); ++it) {
        if (it->boot != record.boot_count) break;  // only the last boot's entries
        if (it->outcome != "attempt") continue;
        it->outcome = "failed";
        it->step = "watchdog";
        it->reason = "watchdog reset";
        std::string slot = it->slot;
        return {std::move(record), std::move(slot)};
    }
    return {std::move(record), ""};
}

Result<BootRecord> mark_good(BootRecord record, const std::string& running) {
    if (!valid_slot_name(running)) return fail("bad slot name '" + running + "'");
    record.slots[running] = SlotState{SlotHealth::kGood, 0, ""};
    if (running != "recovery") record.primary = running;
    return record;
}

Result<std::string> install_target(const BootRecord& record, const std::string& running,
                                   const std::vector<std::string>& ab_slots) {
    if (!valid_slot_name(running)) return fail("bad slot name '" + running + "'");
    bool running_good = is_good(slot_state(record, running));
    std::optional<std::string> fallback;  // a good slot we may overwrite: only if nothing else
    std::optional<Error> refused;
    for (const auto& slot : ab_slots) {
        if (slot == running) continue;
        auto st = slot_state(record, slot);
        if (!is_good(st)) return slot;
        if (!running_good) {
            refused = Error{0, "refusing to overwrite '" + slot + "': it is the only proven slot " +
                                   "and '" + running + "' is not yet good — run mark-good first"};
        } else if (slot == record.primary) {
            refused = Error{0, "refusing to overwrite '" + slot + "': it is the primary slot — " +
                                   "run mark-good to make '" + running + "' primary first"};
        } else if (!fallback) {
            fallback = slot;
        }
    }
    if (fallback) return *fallback;
    if (refused) return Unexpected(*refused);
    return fail("no slot to install to: the only A/B slot is the running one ('" + running + "')");
}

BootRecord mark_installing(BootRecord record, const std::string& slot) {
    record.slots[slot] = SlotState{SlotHealth::kBad, 0, "install in progress"};
    return record;
}

BootRecord mark_installed(BootRecord record, const std::string& slot, int tries) {
    record.slots[slot] = SlotState{SlotHealth::kTrying, std::max(tries, 1), ""};
    record.primary = slot;
    return record;
}

Result<BootRecord> rollback(BootRecord record, const std::string& running) {
    if (!valid_slot_name(running)) return fail("bad slot name '" + running + "'");
    auto other = [](const std::string& s) -> std::string { return s == "a" ? "b" : "a"; };
    std::string target;
    if (record.primary == "a" || record.primary == "b") {
        target = other(record.primary);
    } else if (running == "a" || running == "b") {
        target = other(running);
    } else {
        return fail("nothing to roll back to: primary is '" + record.primary + "', running '" +
                    running + "'");
    }
    auto st = slot_state(record, target);
    if (!is_good(st))
        return fail("cannot roll back to '" + target + "': it is " + describe(st) +
                    ", not a proven slot");
    record.primary = target;
    return record;
}

}  // namespace imageinit::core
