// The boot sequence against a fake platform: the exact mount sequence of a clean boot, and every
// way a slot can fail inside the initramfs, each unwound completely before the next candidate.
#include <gtest/gtest.h>

#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

using core::SlotHealth;

const std::string kImageA = "/run/imageinit/state/slots/a.img";
const std::string kImageB = "/run/imageinit/state/slots/b.img";

// Primary b trying with 2 tries, a good; both images carry the full spec.
struct UpdateBoot : FakeBoot {
    UpdateBoot(FakeImage b = bootable_image(kFullSpec)) {
        fake.add_slot_file("a", bootable_image(kFullSpec));
        fake.add_slot_file("b", std::move(b));
        set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    }
};

// The lines from a's record-attempt write to the end of a full-spec boot of a on /dev/loop0.
// SEEDED: a failed slot already seeded the shared persistent directory.
std::vector<std::string> boot_of_a(bool seeded = false) {
    auto mounts = full_spec_mounts("/dev/loop0", "erofs");
    if (seeded) std::erase_if(mounts, [](const std::string& l) { return l.starts_with("seed"); });
    return concat({{"write imageinit/state", "attach /dev/loop0 to " + kImageA},
                   mounts,
                   {"write /run/imageinit/slot", "write /run/imageinit/boot.json"}});
}

TEST(BootSequence, OverlayOptionsFromTheSpecReachTheOverlayMount) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image("overlay /etc overlay "
                                                "x-imageinit.upper=tmpfs,redirect_dir=on\n"));
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    bool found = false;
    for (const auto& line : boot.fake.log())
        if (line.starts_with("overlay on /sysroot/etc")) {
            found = true;
            EXPECT_HAS(line, "redirect_dir=on");
        }
    EXPECT_TRUE(found);
}

TEST(BootSequence, CleanBootRecordsTheAttemptBeforeTouchingTheImageAndMountsParentsFirst) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;

    EXPECT_EQ(boot.fake.log(),
              concat({{kStateLine, kPersistLine, kOverlayStoreLine}, boot_of_a()}));
    EXPECT_EQ(handover->new_root, "/sysroot");
    EXPECT_EQ(handover->argv, std::vector<std::string>{"/sbin/init"});

    // First boot: no record yet; the one write makes a's attempt durable.
    auto records = boot.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].primary, "a");
    EXPECT_EQ(records[0].boot_count, 1u);
    ASSERT_EQ(records[0].journal.size(), 1u);
    EXPECT_EQ(records[0].journal[0].slot, "a");
    EXPECT_EQ(records[0].journal[0].outcome, "attempt");

    const BootReport& r = boot.report();
    EXPECT_EQ(r.slot, "a");
    EXPECT_EQ(r.why, "primary, good");
    EXPECT_EQ(r.image, kImageA);
    EXPECT_EQ(r.fstype, "erofs");
    EXPECT_EQ(r.spec_file, "/etc/imageinit/fstab");
    EXPECT_FALSE(r.degraded);
    EXPECT_TRUE(r.fallbacks.empty());
    EXPECT_EQ(r.mounts, (std::vector<std::string>{
                            "tmpfs on /tmp (mode=1777)",
                            "overlay on /etc (upper tmpfs)",
                            "overlay on /var (upper persistent shared/var)",
                            "bind persistent shared/etc/ssh on /etc/ssh (seeded from image on "
                            "first use)",
                        }));
    EXPECT_EQ(boot.fake.file("/run/imageinit/slot"), "a\n");
    auto json = boot.fake.file("/run/imageinit/boot.json").value_or("");
    EXPECT_HAS(json, "\"slot\":\"a\"");
    EXPECT_HAS(json, "\"degraded\":false");
    EXPECT_HAS(json, "\"fallbacks\":[]");
    EXPECT_HAS(json, "\"name\":\"apply-mounts\"");

    // The guards were committed: the mounts outlive the sequence, for switch_root.
    auto before = boot.fake.log();
    boot.seq.reset();
    EXPECT_EQ(boot.fake.log(), before);
    EXPECT_EQ(boot.fake.attached(), std::vector<std::string>{"/dev/loop0"});
    EXPECT_EQ(boot.fake.mounted().size(), 8u);
}

TEST(BootSequence, ImageThatFailsToMountIsDetachedMarkedBadAndTheGoodSlotBootsInTheSameRun) {
    UpdateBoot boot;
    boot.fake.fail_on("mount", "/sysroot", EINVAL, 1);  // b's image, not a's
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;

    EXPECT_EQ(boot.fake.log(), concat({{kStateLine, kPersistLine, kOverlayStoreLine,
                                        "write imageinit/state", "attach /dev/loop0 to " + kImageB,
                                        "detach /dev/loop0", "write imageinit/state"},
                                       boot_of_a()}));

    auto records = boot.records();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].slots.at("b"), trying(1));  // the try counted before b's image
    const core::SlotState& b = records[1].slots.at("b");
    EXPECT_EQ(b.health, SlotHealth::kBad);
    EXPECT_EQ(b.reason, "mount-image: mount '/sysroot': Invalid argument");
    EXPECT_EQ(records[1].journal.back().outcome, "failed");
    EXPECT_EQ(records[1].journal.back().step, "mount-image");
    EXPECT_EQ(records[2].slots.at("b").health, SlotHealth::kBad);
    EXPECT_EQ(records[2].journal.back().slot, "a");

    const BootReport& r = boot.report();
    EXPECT_EQ(r.slot, "a");
    EXPECT_EQ(r.why, "fallback, good");
    ASSERT_EQ(r.fallbacks.size(), 1u);
    EXPECT_EQ(r.fallbacks[0].slot, "b");
    EXPECT_EQ(r.fallbacks[0].step, "mount-image");
    EXPECT_EQ(r.fallbacks[0].reason, "mount '/sysroot': Invalid argument");
    EXPECT_HAS(boot.fake.file("/run/imageinit/boot.json").value_or(""),
               "\"fallbacks\":[{\"slot\":\"b\",\"step\":\"mount-image\"");
}

TEST(BootSequence, FailedSlotUnwindsEveryMountInReverseBeforeFallback) {
    UpdateBoot boot;
    boot.fake.fail_on("mount", "/sysroot/etc/ssh", EINVAL, 1);  // b's last mount
    ASSERT_TRUE(boot.run());

    auto b_mounts = full_spec_mounts("/dev/loop0", "erofs", "b");
    b_mounts.pop_back();  // the bind failed
    auto b_unwind = full_spec_unwind("/dev/loop0");
    b_unwind.erase(b_unwind.begin());
    EXPECT_EQ(boot.fake.log(), concat({{kStateLine, kPersistLine, kOverlayStoreLine,
                                        "write imageinit/state", "attach /dev/loop0 to " + kImageB},
                                       b_mounts,
                                       b_unwind,
                                       {"write imageinit/state"},
                                       boot_of_a(true)}));
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "apply-mounts");
    EXPECT_HAS(boot.report().fallbacks[0].reason,
               "/etc/imageinit/fstab:1: bind persistent shared/etc/ssh on /etc/ssh");
}

TEST(BootSequence, NoInitInTheImageFailsTheSlotAfterItsMountsAndUnwindsThemAll) {
    FakeImage no_init = bootable_image(kFullSpec);
    no_init.executables.clear();
    UpdateBoot boot(no_init);
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(), concat({{kStateLine, kPersistLine, kOverlayStoreLine,
                                        "write imageinit/state", "attach /dev/loop0 to " + kImageB},
                                       full_spec_mounts("/dev/loop0", "erofs", "b"),
                                       full_spec_unwind("/dev/loop0"),
                                       {"write imageinit/state"},
                                       boot_of_a(true)}));
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "check-init");
    EXPECT_HAS(boot.report().fallbacks[0].reason, "no init in the image");
    EXPECT_HAS(boot.records()[1].slots.at("b").reason, "check-init: no init");
}

TEST(BootSequence, BadSpecFailsTheSlotWithFileAndLine) {
    UpdateBoot boot(bootable_image("tmpfs /tmp tmpfs mode=1777\nbogus\n"));
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(),
              concat({{kStateLine, kPersistLine, kOverlayStoreLine, "write imageinit/state",
                       "attach /dev/loop0 to " + kImageB,
                       "mount /dev/loop0 on /sysroot (erofs, ro,nodev)", "umount /sysroot",
                       "detach /dev/loop0", "write imageinit/state"},
                      boot_of_a()}));
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "read-spec");
    EXPECT_HAS(boot.report().fallbacks[0].reason, "/etc/imageinit/fstab:2:");
    EXPECT_EQ(boot.report().slot, "a");
}

TEST(BootSequence, MissingImageOfARecordedSlotFailsItWithoutTouchingAnything) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(), concat({{kStateLine, kPersistLine, kOverlayStoreLine,
                                        "write imageinit/state", "write imageinit/state"},
                                       boot_of_a()}));
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "attach-image");
    EXPECT_EQ(boot.report().fallbacks[0].reason, "image missing: '" + kImageB + "'");
    EXPECT_EQ(boot.records()[1].slots.at("b"),
              bad("attach-image: image missing: '" + kImageB + "'"));
}

TEST(BootSequence, EverySlotFailingUnwindsEverySlotMountAndReturnsAnError) {
    FakeImage no_init = bootable_image(kFullSpec);
    no_init.executables.clear();
    UpdateBoot boot(no_init);
    boot.fake.add_slot_file("a", no_init);
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    EXPECT_HAS(handover.error().message, "no bootable slot left");
    EXPECT_HAS(handover.error().message, "no init in the image");
    ASSERT_EQ(boot.report().fallbacks.size(), 2u);
    EXPECT_EQ(boot.report().fallbacks[0].slot, "b");
    EXPECT_EQ(boot.report().fallbacks[1].slot, "a");

    // Nothing of either slot is left; the base mounts stay for the emergency shell (the policy
    // reboots otherwise) and go only when the sequence itself goes.
    EXPECT_TRUE(boot.fake.attached().empty());
    EXPECT_EQ(boot.fake.mounted(),
              (std::vector<std::string>{"/run/imageinit/state", "/run/imageinit/persist",
                                        "/run/imageinit/overlay"}));
    auto records = boot.records();
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back().slots.at("a").health, SlotHealth::kBad);
    EXPECT_EQ(records.back().slots.at("b").health, SlotHealth::kBad);

    size_t before = boot.fake.log().size();
    boot.seq.reset();
    std::vector<std::string> tail(boot.fake.log().begin() + before, boot.fake.log().end());
    EXPECT_EQ(tail, (std::vector<std::string>{"umount /run/imageinit/overlay",
                                              "umount /run/imageinit/persist",
                                              "umount /run/imageinit/state"}));
    EXPECT_TRUE(boot.fake.mounted().empty());
}

TEST(BootSequence, TryingSlotWhoseAttemptCannotBeRecordedIsSkippedNotBootedUncounted) {
    UpdateBoot boot;
    boot.fake.fail_on("write", "imageinit/state", EIO, 1);
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    // b's image is never attached; a (good) boots.
    EXPECT_EQ(boot.fake.log(),
              concat({{kStateLine, kPersistLine, kOverlayStoreLine}, boot_of_a()}));
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].slot, "b");
    EXPECT_EQ(boot.report().fallbacks[0].step, "record-attempt");
    EXPECT_HAS(boot.report().fallbacks[0].reason, "Input/output error");
    // a's attempt is what reached the disk: b keeps both tries, since it never used one.
    auto records = boot.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].slots.at("b"), trying(2));
    EXPECT_EQ(records[0].journal.back().slot, "a");
}

TEST(BootSequence, ReportThatCannotBeWrittenIsAWarningNotAFailedBoot) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.fail_on("write", "/run/imageinit/boot.json", ENOSPC);
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_EQ(boot.report().slot, "a");
}

TEST(BootSequence, GoodSlotBootsEvenWhenItsAttemptCannotBeRecorded) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.fail_on("write", "imageinit/state", EIO);
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.report().slot, "a");
    EXPECT_TRUE(boot.report().fallbacks.empty());
    EXPECT_TRUE(boot.records().empty());
}

TEST(BootSequence, ForcedSlotBootsAsIsWithoutCountingATry) {
    UpdateBoot boot;
    boot.set_record(make_record("a", {{"a", good()}, {"b", trying(2)}}));
    boot.cfg.forced_slot = "b";
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(),
              concat({{kStateLine, kPersistLine, kOverlayStoreLine, "write imageinit/state",
                       "attach /dev/loop0 to " + kImageB},
                      full_spec_mounts("/dev/loop0", "erofs", "b"),
                      {"write /run/imageinit/slot", "write /run/imageinit/boot.json"}}));
    EXPECT_EQ(boot.report().slot, "b");
    EXPECT_HAS(boot.report().why, "forced by imageinit.slot");
    auto records = boot.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].slots.at("b"), trying(2));
    EXPECT_EQ(records[0].primary, "a");
    EXPECT_EQ(boot.fake.file("/run/imageinit/slot"), "b\n");
}

TEST(BootSequence, ForcedSlotThatFailsHasNoFallback) {
    UpdateBoot boot(bootable_image("bogus\n"));
    boot.cfg.forced_slot = "b";
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    for (const auto& line : boot.fake.log())
        EXPECT_EQ(line.find("a.img"), std::string::npos) << line;
    EXPECT_TRUE(boot.fake.attached().empty());
    EXPECT_EQ(boot.fake.mounted().size(), 3u);
}

}  // namespace
}  // namespace imageinit::boot::testing
