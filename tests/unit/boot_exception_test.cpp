// Exceptions inside a slot attempt (issue 19): std::length_error or std::bad_alloc from a step,
// or from the code between steps, fail that slot with the reason and the boot falls back in the
// same run; nothing reaches PID 1's catch-all.
#include <gtest/gtest.h>

#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

using core::SlotHealth;

// Primary b trying with 2 tries, a good; both bootable.
struct UpdateBoot : FakeBoot {
    UpdateBoot() {
        fake.add_slot_file("a", bootable_image(kFullSpec));
        fake.add_slot_file("b", bootable_image(kFullSpec));
        set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    }
};

void expect_b_failed_and_a_booted(UpdateBoot& boot, const Result<Handover>& handover,
                                  const std::string& step, const std::string& reason) {
    ASSERT_TRUE(handover) << handover.error().message;
    const BootReport& r = boot.report();
    EXPECT_EQ(r.slot, "a");
    ASSERT_EQ(r.fallbacks.size(), 1u);
    EXPECT_EQ(r.fallbacks[0].slot, "b");
    EXPECT_EQ(r.fallbacks[0].step, step);
    EXPECT_EQ(r.fallbacks[0].reason, reason);
    auto records = boot.records();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[1].slots.at("b").health, SlotHealth::kBad);
    EXPECT_EQ(records[1].slots.at("b").reason, step + ": " + reason);
    EXPECT_EQ(records[1].journal.back().outcome, "failed");
    // b's image was detached before a's was attached: its guards unwound.
    EXPECT_EQ(boot.fake.attached(), std::vector<std::string>{"/dev/loop0"});
}

TEST(BootExceptions, LengthErrorInAStepFailsThatSlotAndTheGoodSlotBootsInTheSameRun) {
    UpdateBoot boot;
    boot.fake.throw_on("read", "/sysroot/etc/imageinit/fstab");  // b's spec, not a's
    auto handover = boot.run();
    expect_b_failed_and_a_booted(boot, handover, "read-spec",
                                 "internal error: basic_string::_M_create");
}

TEST(BootExceptions, BadAllocInAStepFailsThatSlotAfterItsMountsUnwind) {
    UpdateBoot boot;
    boot.fake.throw_on("mount", "/sysroot/etc", /*bad_alloc=*/true);  // b's overlay on /etc
    auto handover = boot.run();
    expect_b_failed_and_a_booted(boot, handover, "apply-mounts",
                                 "internal error: out of memory (std::bad_alloc)");
    // The same as when that mount fails with an error: every mount of b undone.
    UpdateBoot reference;
    reference.fake.fail_on("mount", "/sysroot/etc", EINVAL, 1);
    ASSERT_TRUE(reference.run());
    EXPECT_EQ(boot.fake.log(), reference.fake.log());
}

TEST(BootExceptions, ExceptionInTheVerityCheckFailsTheSlotAtAttachImage) {
    UpdateBoot boot;
    // has_verity_data runs at the end of attach-image, which fails with the exception.
    boot.fake.throw_on("exists", "/run/imageinit/state/slots/b.img.verity");
    auto handover = boot.run();
    expect_b_failed_and_a_booted(boot, handover, "attach-image",
                                 "internal error: basic_string::_M_create");
}

TEST(BootExceptions, StepRunnerTurnsAnExceptionIntoTheStepsFailure) {
    StepRunner steps;
    auto r = steps.run<int>("x", "", []() -> Result<int> { throw std::length_error("too long"); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "step x: internal error: too long");
    EXPECT_EQ(r.error().code, ENOTRECOVERABLE);
    ASSERT_EQ(steps.records().size(), 1u);
    EXPECT_FALSE(steps.records()[0].ok);
}

}  // namespace
}  // namespace imageinit::boot::testing
