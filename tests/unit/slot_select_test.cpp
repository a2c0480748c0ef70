// Slot choice and the booted-OS record changes: a table over the decision space, properties over
// every combination of slot states, and multi-boot simulations of an update that never proves good.
#include "core/slot_select.h"

#include <gtest/gtest.h>

namespace imageinit::core {
namespace {

const SlotState kGood{SlotHealth::kGood, 0, ""};
SlotState trying(int n) { return {SlotHealth::kTrying, n, ""}; }
SlotState bad(std::string why = "broken") { return {SlotHealth::kBad, 0, std::move(why)}; }

BootRecord record(std::string primary, std::map<std::string, SlotState> slots) {
    BootRecord r;
    r.primary = std::move(primary);
    r.slots = std::move(slots);
    r.boot_count = 10;
    return r;
}

SlotChoiceInput input(BootRecord r, std::vector<std::string> present = {"a", "b"}) {
    return SlotChoiceInput{std::move(r), std::move(present), std::nullopt, {}};
}

struct Case {
    const char* name;
    SlotChoiceInput in;
    std::string slot;  // "" = no attempt
    bool last_resort = false;
};

TEST(SlotSelect, DecisionTable) {
    auto forced = [](SlotChoiceInput in, std::string slot) {
        in.forced = std::move(slot);
        return in;
    };
    auto failed = [](SlotChoiceInput in, std::set<std::string> f) {
        in.failed_this_boot = std::move(f);
        return in;
    };
    const std::vector<std::string> abr = {"a", "b", "recovery"};
    const std::vector<Case> cases = {
        {"good primary", input(record("a", {{"a", kGood}, {"b", kGood}})), "a"},
        {"trying primary", input(record("b", {{"a", kGood}, {"b", trying(2)}})), "b"},
        {"exhausted primary", input(record("b", {{"a", kGood}, {"b", trying(0)}})), "a"},
        {"bad primary", input(record("a", {{"a", bad()}, {"b", kGood}})), "b"},
        {"other trying is no fallback, recovery is",
         input(record("a", {{"a", bad()}, {"b", trying(2)}}), abr), "recovery"},
        {"recovery after bad A/B", input(record("a", {{"a", bad()}, {"b", bad()}}), abr),
         "recovery"},
        {"unrecorded recovery counts as good", input(record("a", {{"a", bad()}}), abr), "recovery"},
        {"trying non-primary before last resort",
         input(record("a", {{"a", bad()}, {"b", trying(2)}})), "b"},
        {"all bad: last resort primary", input(record("b", {{"a", bad()}, {"b", bad()}})), "b",
         true},
        {"all bad, primary failed: last resort other",
         failed(input(record("b", {{"a", bad()}, {"b", bad()}})), {"b"}), "a", true},
        {"everything failed", failed(input(record("a", {{"a", kGood}, {"b", kGood}})), {"a", "b"}),
         ""},
        {"nothing present", input(record("a", {{"a", kGood}}), {}), ""},
        {"primary missing on disk", input(record("a", {{"a", kGood}, {"b", kGood}}), {"b"}), "b"},
        {"default record ignores unrecorded b", input(default_record()), "a"},
        {"unrecorded b only as last resort", failed(input(default_record()), {"a"}), "b", true},
        {"unrecorded primary counts as good", input(record("b", {{"a", kGood}})), "b"},
        {"forced bad slot is tried", forced(input(record("a", {{"a", kGood}, {"b", bad()}})), "b"),
         "b"},
        {"forced recovery not present", forced(input(record("a", {{"a", kGood}})), "recovery"), ""},
        {"forced slot failed: no fallback",
         failed(forced(input(record("a", {{"a", kGood}, {"b", kGood}})), "b"), {"b"}), ""},
    };
    for (const auto& c : cases) {
        Choice choice = choose_slot(c.in);
        if (c.slot.empty()) {
            EXPECT_FALSE(choice.attempt) << c.name << ": chose " << choice.attempt->slot;
            continue;
        }
        ASSERT_TRUE(choice.attempt) << c.name;
        EXPECT_EQ(choice.attempt->slot, c.slot) << c.name;
        EXPECT_EQ(choice.attempt->last_resort, c.last_resort) << c.name;
        EXPECT_EQ(choice.record, choice.attempt->record) << c.name;
    }
}

TEST(SlotSelect, ExhaustedTryingSlotFallsBackToGood) {
    Choice c = choose_slot(input(record("b", {{"a", kGood}, {"b", trying(0)}})));
    ASSERT_TRUE(c.attempt);
    EXPECT_EQ(c.attempt->slot, "a");
    EXPECT_EQ(c.record.slots["b"], bad("boot attempts exhausted"));
    EXPECT_EQ(c.record.primary, "b");  // primary is only moved by mark-good and rollback
    ASSERT_EQ(c.record.journal.size(), 2u);
    EXPECT_EQ(c.record.journal[0].outcome, "exhausted");
    EXPECT_EQ(c.record.journal[0].slot, "b");
    EXPECT_EQ(c.record.journal[1].outcome, "attempt");
    EXPECT_EQ(c.record.journal[1].slot, "a");
    ASSERT_FALSE(c.skipped.empty());
    EXPECT_NE(c.skipped[0].find("boot attempts exhausted"), std::string::npos);
}

TEST(SlotSelect, TryingSlotIsDecrementedInTheRecordToWriteFirst) {
    Choice c = choose_slot(input(record("b", {{"a", kGood}, {"b", trying(3)}})));
    ASSERT_TRUE(c.attempt);
    EXPECT_EQ(c.attempt->slot, "b");
    EXPECT_EQ(c.attempt->record.slots["b"], trying(2));
    EXPECT_EQ(c.attempt->record.boot_count, 11u);
    EXPECT_EQ(c.attempt->record.journal.back(), (JournalEntry{11, "b", "attempt", "", "", 0}));
}

TEST(SlotSelect, ForcedSlotIsUsedAsIsWithoutCountingATry) {
    SlotChoiceInput in = input(record("a", {{"a", kGood}, {"b", trying(2)}}));
    in.forced = "b";
    Choice c = choose_slot(in);
    ASSERT_TRUE(c.attempt);
    EXPECT_EQ(c.attempt->slot, "b");
    EXPECT_EQ(c.attempt->record.slots["b"], trying(2));
    EXPECT_EQ(c.attempt->record.boot_count, 11u);
    EXPECT_FALSE(c.attempt->last_resort);
    EXPECT_NE(c.attempt->why.find("forced"), std::string::npos);
}

TEST(SlotSelect, NoAttemptLeavesTheRecordUntouchedUnlessSomethingChanged) {
    SlotChoiceInput in = input(record("a", {{"a", kGood}, {"b", kGood}}));
    in.failed_this_boot = {"a", "b"};
    EXPECT_EQ(choose_slot(in).record, in.record);
}

TEST(SlotSelect, FailureThenFallbackInTheSameBootCountsTheBootOnce) {
    SlotChoiceInput in = input(record("b", {{"a", kGood}, {"b", trying(3)}}));
    Choice first = choose_slot(in);
    ASSERT_TRUE(first.attempt);
    EXPECT_EQ(first.attempt->slot, "b");
    BootRecord after = record_failure(first.attempt->record, "b", "mount-image",
                                      "mount '/x': invalid\nargument", 120);
    EXPECT_EQ(after.slots["b"], bad("mount-image: mount '/x': invalid argument"));
    EXPECT_EQ(after.journal.back(), (JournalEntry{11, "b", "failed", "mount-image",
                                                  "mount '/x': invalid argument", 120}));

    in.record = after;
    in.failed_this_boot = {"b"};
    Choice second = choose_slot(in);
    ASSERT_TRUE(second.attempt);
    EXPECT_EQ(second.attempt->slot, "a");
    EXPECT_EQ(second.attempt->record.boot_count, 11u);
    ASSERT_EQ(second.attempt->record.journal.size(), 2u);
    EXPECT_EQ(second.attempt->record.journal[1], (JournalEntry{11, "a", "attempt", "", "", 0}));
}

TEST(SlotSelect, RecordFailureWithoutAnAttemptEntryAppendsOne) {
    BootRecord r = record_failure(record("a", {{"a", kGood}}), "a", "check-init", "no init", 5);
    ASSERT_EQ(r.journal.size(), 1u);
    EXPECT_EQ(r.journal[0], (JournalEntry{10, "a", "failed", "check-init", "no init", 5}));
}

// Boots of a device whose update (B, 3 tries) never gets marked good: three attempts on B, then
// A, and A stays.
TEST(SlotSelect, UpdateNeverMarkedGoodFallsBackAfterItsTries) {
    BootRecord r = default_record();
    auto target = install_target(r, "a", {"a", "b"});
    ASSERT_TRUE(target);
    EXPECT_EQ(*target, "b");
    r = mark_installed(mark_installing(r, "b"), "b", 3);
    std::vector<std::string> booted;
    for (int boot = 0; boot < 6; ++boot) {
        Choice c = choose_slot(input(r));
        ASSERT_TRUE(c.attempt);
        booted.push_back(c.attempt->slot);
        r = c.attempt->record;  // the machine hangs or reboots without mark-good
        ASSERT_TRUE(decode_record(encode_record(r)));
    }
    EXPECT_EQ(booted, (std::vector<std::string>{"b", "b", "b", "a", "a", "a"}));
    EXPECT_EQ(r.slots["b"], bad("boot attempts exhausted"));
    EXPECT_EQ(r.boot_count, 6u);
    auto back = rollback(r, "a");  // the primary still names the failed update until then
    ASSERT_TRUE(back);
    EXPECT_EQ(back->primary, "a");
}

TEST(SlotSelect, UpdateMarkedGoodBecomesTheProvenPrimary) {
    BootRecord r = mark_installed(default_record(), "b", 2);
    Choice c = choose_slot(input(r));
    ASSERT_TRUE(c.attempt);
    EXPECT_EQ(c.attempt->slot, "b");
    auto good = mark_good(c.attempt->record, "b");
    ASSERT_TRUE(good);
    EXPECT_EQ(good->primary, "b");
    EXPECT_EQ(good->slots["b"], kGood);
    EXPECT_EQ(*mark_good(*good, "b"), *good);  // nothing to write the second time
    auto back = rollback(*good, "b");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->primary, "a");
}

TEST(SlotSelect, MarkGoodInRecoveryKeepsThePrimary) {
    auto r = mark_good(record("a", {{"a", bad()}, {"recovery", bad()}}), "recovery");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->primary, "a");
    EXPECT_EQ(r->slots["recovery"], kGood);
    EXPECT_FALSE(mark_good(default_record(), "../x"));
}

TEST(SlotSelect, MarkInstalledNeedsAtLeastOneTry) {
    BootRecord r = mark_installed(default_record(), "b", 0);
    EXPECT_EQ(r.slots["b"], trying(1));
    EXPECT_EQ(r.primary, "b");
    EXPECT_EQ(mark_installing(r, "b").slots["b"], bad("install in progress"));
}

TEST(SlotSelect, InstallTargetRefusesTheOnlyProvenSlot) {
    auto t = install_target(record("b", {{"a", kGood}, {"b", trying(1)}}), "b", {"a", "b"});
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().message,
              "refusing to overwrite 'a': it is the only proven slot and 'b' is not yet good — "
              "run mark-good first");
    auto p = install_target(record("b", {{"a", kGood}, {"b", kGood}}), "a", {"a", "b"});
    ASSERT_FALSE(p);  // 'b' is the proven primary (a rollback not yet booted)
    EXPECT_NE(p.error().message.find("primary"), std::string::npos);
    EXPECT_FALSE(install_target(default_record(), "a", {"a"}));
    auto ok = install_target(record("a", {{"a", kGood}, {"b", kGood}}), "a", {"a", "b"});
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, "b");
    auto bad_other = install_target(record("b", {{"a", bad()}, {"b", trying(1)}}), "b", {"a", "b"});
    ASSERT_TRUE(bad_other);
    EXPECT_EQ(*bad_other, "a");
}

TEST(SlotSelect, RollbackNeedsAGoodOtherSlot) {
    auto r = rollback(record("b", {{"a", kGood}, {"b", bad()}}), "a");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->primary, "a");
    auto refused = rollback(record("a", {{"a", kGood}, {"b", trying(2)}}), "a");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message,
              "cannot roll back to 'b': it is trying (2 left), not a proven slot");
    EXPECT_FALSE(rollback(default_record(), "a"));  // b was never installed
}

// Every combination of states for a, b and recovery (good, trying 0..3, bad, present but never
// recorded, not present), either primary, and every subset failed earlier in this boot.
enum class Kind { kGood, kTry0, kTry1, kTry2, kTry3, kBad, kUnrecorded, kAbsent, kCount };

template <typename F>
void for_each_world(F check) {
    const std::string names[] = {"a", "b", "recovery"};
    const int n = static_cast<int>(Kind::kCount);
    for (int ka = 0; ka < n; ++ka)
        for (int kb = 0; kb < n; ++kb)
            for (int kr = 0; kr < n; ++kr)
                for (const char* primary : {"a", "b"})
                    for (int failed_mask = 0; failed_mask < 8; ++failed_mask) {
                        SlotChoiceInput in;
                        in.record.primary = primary;
                        in.record.boot_count = 7;
                        const int kinds[] = {ka, kb, kr};
                        for (int i = 0; i < 3; ++i) {
                            Kind k = static_cast<Kind>(kinds[i]);
                            if (k != Kind::kAbsent) in.present.push_back(names[i]);
                            if (failed_mask & (1 << i)) in.failed_this_boot.insert(names[i]);
                            if (k == Kind::kGood) in.record.slots[names[i]] = kGood;
                            if (k >= Kind::kTry0 && k <= Kind::kTry3)
                                in.record.slots[names[i]] = trying(kinds[i] - 1);
                            if (k == Kind::kBad) in.record.slots[names[i]] = bad();
                        }
                        check(in);
                    }
}

// Good, or trying with a try left, at the start (unrecorded primary/recovery count as good).
bool live(const SlotChoiceInput& in, const std::string& slot) {
    auto st = slot_state(in.record, slot);
    return st && (st->health == SlotHealth::kGood ||
                  (st->health == SlotHealth::kTrying && st->tries_left > 0));
}

TEST(SlotSelectProperty, ChoiceInvariantsHoldForEveryCombination) {
    int worlds = 0;
    for_each_world([&](const SlotChoiceInput& in) {
        ++worlds;
        Choice c = choose_slot(in);
        std::vector<std::string> usable;
        bool any_live = false;
        for (const auto& s : in.present) {
            if (in.failed_this_boot.count(s)) continue;
            usable.push_back(s);
            any_live = any_live || live(in, s);
        }
        // Never bricked: something is tried while any present slot has not failed this boot.
        ASSERT_EQ(c.attempt.has_value(), !usable.empty());
        const BootRecord& out = c.record;
        for (const auto& [name, before] : in.record.slots) {
            const SlotState& after = out.slots.at(name);
            if (before.health == SlotHealth::kGood) {
                EXPECT_EQ(after, before);  // never marked bad
            }
            if (before.health == SlotHealth::kTrying && before.tries_left > 0) {
                bool chosen = c.attempt && c.attempt->slot == name;
                EXPECT_EQ(after, trying(before.tries_left - (chosen ? 1 : 0)));
            }
            if (before.health == SlotHealth::kTrying && before.tries_left == 0) {
                EXPECT_TRUE(after == before || after == bad("boot attempts exhausted"));
            }
        }
        EXPECT_EQ(out.primary, in.record.primary);
        if (!c.attempt) return;
        const std::string& slot = c.attempt->slot;
        EXPECT_TRUE(std::count(usable.begin(), usable.end(), slot));
        // A bad (or never installed) slot is chosen only when nothing good or trying is left.
        if (!live(in, slot)) {
            EXPECT_FALSE(any_live) << "chose " << slot;
        }
        EXPECT_EQ(c.attempt->last_resort, !any_live);
        if (live(in, in.record.primary) && !in.failed_this_boot.count(in.record.primary) &&
            std::count(in.present.begin(), in.present.end(), in.record.primary)) {
            EXPECT_EQ(slot, in.record.primary);
        }
        EXPECT_EQ(out.boot_count, in.failed_this_boot.empty() ? 8u : 7u);
        EXPECT_EQ(out.journal.back(), (JournalEntry{out.boot_count, slot, "attempt", "", "", 0}));
        auto decoded = decode_record(encode_record(out));
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, out);
    });
    EXPECT_EQ(worlds, 8 * 8 * 8 * 2 * 8);
}

TEST(SlotSelectProperty, InstallTargetNeverTakesTheRunningOrOnlyGoodSlot) {
    for_each_world([&](const SlotChoiceInput& in) {
        if (!in.failed_this_boot.empty()) return;  // irrelevant to install
        for (const char* running : {"a", "b"}) {
            auto t = install_target(in.record, running, {"a", "b"});
            if (!t) continue;
            EXPECT_NE(*t, running);
            bool target_good = slot_state(in.record, *t) == kGood;
            bool running_good = slot_state(in.record, running) == kGood;
            if (target_good) {
                EXPECT_TRUE(running_good) << "overwrote the only proven slot " << *t;
                EXPECT_NE(*t, in.record.primary) << "overwrote the proven primary";
            }
        }
    });
}

}  // namespace
}  // namespace imageinit::core
