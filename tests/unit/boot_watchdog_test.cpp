// The boot sequence after a watchdog reset: the last boot's attempt is recorded as a failed try
// naming the watchdog, in the same write as this boot's attempt.
#include <gtest/gtest.h>

#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

struct HungUpdateBoot : FakeBoot {
    explicit HungUpdateBoot(bool reset) {
        fake.add_slot_file("a", bootable_image());
        fake.add_slot_file("b", bootable_image());
        core::BootRecord r = make_record("b", {{"a", good()}, {"b", trying(1)}});
        r.journal = {{7, "b", "attempt", "", "", 0}};  // boot 7 handed b over, then hung
        set_record(r);
        seq.emplace(fake.seams(), cmdline, steps, start);
        seq->set_watchdog_reset_probe([reset] { return reset; });
    }
    Result<Handover> run() { return seq->run(); }
};

TEST(BootWatchdog, ResetByTheWatchdogIsRecordedAsTheFailedTryOfTheSlotThatWasBooting) {
    HungUpdateBoot boot(/*reset=*/true);
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    auto records = boot.records();
    ASSERT_FALSE(records.empty());
    const auto& journal = records[0].journal;  // the one write before this boot's image
    ASSERT_EQ(journal.size(), 2u);
    EXPECT_EQ(journal[0], (core::JournalEntry{7, "b", "failed", "watchdog", "watchdog reset", 0}));
    EXPECT_EQ(journal[1].boot, 8u);
    EXPECT_EQ(boot.report().slot, "b");  // one try left: b is tried once more
    EXPECT_HAS(boot.report().warnings.front(), "slot b ended in a watchdog reset");
}

TEST(BootWatchdog, WithoutAResetTheLastAttemptStaysAsItWas) {
    HungUpdateBoot boot(/*reset=*/false);
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.records()[0].journal[0], (core::JournalEntry{7, "b", "attempt", "", "", 0}));
}

TEST(BootWatchdog, ResetWithNoSlotToTryStillWritesTheNote) {
    HungUpdateBoot boot(/*reset=*/true);
    boot.cfg.forced_slot = "c";  // not present: no attempt at all in this boot
    EXPECT_FALSE(boot.run());
    auto records = boot.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].journal[0].reason, "watchdog reset");
}

}  // namespace
}  // namespace imageinit::boot::testing
