// A watchdog reset (WDIOF_CARDRESET at the next boot) recorded as the failed try of the slot that
// was booting, and a multi-boot simulation: an update whose init hangs until the watchdog fires
// uses up its tries and the proven slot boots.
#include <gtest/gtest.h>

#include "core/slot_select.h"

namespace imageinit::core {
namespace {

BootRecord with_journal(uint64_t boot_count, std::vector<JournalEntry> journal) {
    BootRecord r;
    r.primary = "b";
    r.slots = {{"a", {SlotHealth::kGood, 0, ""}}, {"b", {SlotHealth::kTrying, 1, ""}}};
    r.boot_count = boot_count;
    r.journal = std::move(journal);
    return r;
}

TEST(WatchdogReset, LastBootsAttemptBecomesAFailedTryNamingTheWatchdog) {
    BootRecord before =
        with_journal(10, {{9, "a", "attempt", "", "", 0}, {10, "b", "attempt", "", "", 0}});
    WatchdogReset w = record_watchdog_reset(before);
    EXPECT_EQ(w.slot, "b");
    ASSERT_EQ(w.record.journal.size(), 2u);
    EXPECT_EQ(w.record.journal[1],
              (JournalEntry{10, "b", "failed", "watchdog", "watchdog reset", 0}));
    EXPECT_EQ(w.record.journal[0], before.journal[0]);
    EXPECT_EQ(w.record.slots, before.slots) << "the try was counted already; health unchanged";
    EXPECT_TRUE(decode_record(encode_record(w.record))) << "the record stays canonical";
}

TEST(WatchdogReset, TheAttemptAfterAFailedSlotOfTheSameBootIsTheOneBlamed) {
    WatchdogReset w = record_watchdog_reset(with_journal(
        10, {{10, "b", "failed", "mount-image", "bad", 5}, {10, "a", "attempt", "", "", 0}}));
    EXPECT_EQ(w.slot, "a");
    EXPECT_EQ(w.record.journal[0].step, "mount-image");
    EXPECT_EQ(w.record.journal[1].step, "watchdog");
}

TEST(WatchdogReset, NoAttemptInTheLastBootBlamesNobody) {
    for (const auto& journal : std::vector<std::vector<JournalEntry>>{
             {},
             {{9, "a", "attempt", "", "", 0}},  // an older boot's attempt is not this reset's
             {{10, "b", "failed", "read-spec", "bad spec", 3}}}) {
        BootRecord before = with_journal(10, journal);
        WatchdogReset w = record_watchdog_reset(before);
        EXPECT_EQ(w.slot, "");
        EXPECT_EQ(w.record, before);
    }
}

TEST(WatchdogReset, HangingUpdateUsesUpItsTriesThenTheProvenSlotBoots) {
    BootRecord r;
    r.primary = "b";
    r.slots = {{"a", {SlotHealth::kGood, 0, ""}}, {"b", {SlotHealth::kTrying, 3, ""}}};
    std::vector<std::string> booted;
    for (int boot = 0; boot < 6; ++boot) {
        Choice c = choose_slot(SlotChoiceInput{r, {"a", "b"}, std::nullopt, {}});
        ASSERT_TRUE(c.attempt);
        r = c.attempt->record;  // written before the image is touched
        booted.push_back(c.attempt->slot);
        if (c.attempt->slot == "b") r = record_watchdog_reset(r).record;  // b's init hangs
    }
    EXPECT_EQ(booted, (std::vector<std::string>{"b", "b", "b", "a", "a", "a"}));
    EXPECT_EQ(r.slots.at("b").health, SlotHealth::kBad);
    int resets = 0;
    for (const auto& e : r.journal) resets += e.slot == "b" && e.reason == "watchdog reset";
    EXPECT_EQ(resets, 3);
}

}  // namespace
}  // namespace imageinit::core
