// The boot sequence against a fake platform: finding the state and persistent partitions (late,
// missing, ambiguous labels), degraded mode, partition slots and the default spec.
#include <gtest/gtest.h>

#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

using std::chrono::seconds;

const std::string kImageA = "/run/imageinit/state/slots/a.img";

// Slot a (good by default) with the full spec, persistent partition removed by the caller.
struct SlotABoot : FakeBoot {
    explicit SlotABoot(bool with_persist = true) : FakeBoot(false) {
        fake.add_device({"/dev/sda1", {"LABEL=STATE"}, "ext4", "/dev/sda"});
        if (with_persist) fake.add_device({"/dev/sda2", {"LABEL=PERSIST"}, "ext4", "/dev/sda"});
        fake.add_slot_file("a", bootable_image(kFullSpec));
    }
};

const std::vector<std::string> kDegradedMounts = {
    "write imageinit/state",
    "attach /dev/loop0 to " + kImageA,
    "mount /dev/loop0 on /sysroot (erofs, ro,nodev)",
    "mount tmpfs on /sysroot/tmp (tmpfs, nosuid,nodev,mode=1777)",
    "overlay on /sysroot/etc (upper /run/imageinit/overlay/a/1/upper)",
    "overlay on /sysroot/var (upper /run/imageinit/overlay/a/2/upper, nosuid,nodev)",
    "overlay on /sysroot/etc/ssh (upper /run/imageinit/overlay/a/3/upper, nosuid,nodev)",
    "write /run/imageinit/slot",
    "write /run/imageinit/boot.json",
};

TEST(BootSequence, MissingPersistentPartitionBootsDegradedWithPersistentPathsTemporary) {
    SlotABoot boot(false);
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(), concat({{kStateLine, kOverlayStoreLine}, kDegradedMounts}));
    // Only a short grace for the persistent partition, not the whole device deadline.
    ASSERT_EQ(boot.fake.waits().size(), 2u);
    EXPECT_EQ(boot.fake.waits()[1].second, boot.start + seconds(2));

    const BootReport& r = boot.report();
    EXPECT_TRUE(r.degraded);
    ASSERT_FALSE(r.warnings.empty());
    EXPECT_HAS(r.warnings[0], "DEGRADED: persistent partition 'LABEL=PERSIST' not found");
    EXPECT_EQ(r.mounts.back(),
              "overlay on /etc/ssh (upper tmpfs, degraded: temporary, no persistent partition)");
    EXPECT_HAS(boot.fake.file("/run/imageinit/boot.json").value_or(""), "\"degraded\":true");
}

TEST(BootSequence, PersistRequiredTurnsAMissingPartitionIntoAFailure) {
    SlotABoot boot(false);
    boot.cfg.persist_required = true;
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    EXPECT_HAS(handover.error().message, "imageinit.persist.required");
    EXPECT_EQ(boot.fake.log(), std::vector<std::string>{kStateLine});  // no slot was touched
}

TEST(BootSequence, PersistentPartitionAppearingWithinTheGraceIsUsed) {
    SlotABoot boot(false);
    boot.fake.add_device(
        {"/dev/sdb1", {"LABEL=PERSIST"}, "ext4", "/dev/sdb", boot.start + seconds(1)});
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log()[1], "mount /dev/sdb1 on /run/imageinit/persist (ext4, nosuid,nodev)");
    EXPECT_FALSE(boot.report().degraded);
    EXPECT_EQ(boot.fake.now(), boot.start + seconds(1));
}

TEST(BootSequence, PersistLabelOnTwoDisksPrefersTheStateDiskWithAWarning) {
    SlotABoot boot;
    boot.fake.add_device({"/dev/sdb1", {"LABEL=PERSIST"}, "ext4", "/dev/sdb"});
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log()[1], kPersistLine);
    EXPECT_FALSE(boot.report().degraded);
    ASSERT_EQ(boot.report().warnings.size(), 2u);  // and the first-boot note about the record
    EXPECT_EQ(boot.report().warnings[0],
              "'LABEL=PERSIST' also matches /dev/sdb1; using /dev/sda2 on the state disk");
}

TEST(BootSequence, PersistLabelOnlyOnOtherDisksRefusesToGuessAndBootsDegraded) {
    SlotABoot boot(false);
    boot.fake.add_device({"/dev/sdb1", {"LABEL=PERSIST"}, "ext4", "/dev/sdb"});
    boot.fake.add_device({"/dev/sdc1", {"LABEL=PERSIST"}, "ext4", "/dev/sdc"});
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(), concat({{kStateLine, kOverlayStoreLine}, kDegradedMounts}));
    EXPECT_TRUE(boot.report().degraded);
    EXPECT_HAS(boot.report().warnings[0], "/dev/sdb1, /dev/sdc1");
    EXPECT_HAS(boot.report().warnings[0], "refusing to guess");
}

TEST(BootSequence, StateDeviceThatNeverAppearsFailsAtTheDeadline) {
    FakeBoot boot(false);
    boot.cfg.timeout_sec = 5;
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    EXPECT_EQ(handover.error().code, ETIMEDOUT);
    EXPECT_HAS(handover.error().message, "step wait-state: wait for device 'state partition");
    EXPECT_EQ(boot.fake.now(), boot.start + seconds(5));
    ASSERT_EQ(boot.fake.waits().size(), 1u);
    EXPECT_EQ(boot.fake.waits()[0].second, boot.start + seconds(5));
    EXPECT_TRUE(boot.fake.log().empty());
}

TEST(BootSequence, LateStateDeviceIsWaitedForWithinTheDeadline) {
    FakeBoot late(false);
    late.fake.add_device(
        {"/dev/sda1", {"LABEL=STATE"}, "ext4", "/dev/sda", late.start + seconds(3)});
    late.fake.add_device(
        {"/dev/sda2", {"LABEL=PERSIST"}, "ext4", "/dev/sda", late.start + seconds(3)});
    late.fake.add_slot_file("a", bootable_image(kFullSpec));
    ASSERT_TRUE(late.run());
    EXPECT_EQ(late.fake.now(), late.start + seconds(3));
    EXPECT_EQ(late.fake.log()[0], kStateLine);
    EXPECT_EQ(late.report().slot, "a");
}

TEST(BootSequence, StateLabelOnTwoDevicesRefusesToGuess) {
    SlotABoot boot;
    boot.fake.add_device({"/dev/sdb1", {"LABEL=STATE"}, "ext4", "/dev/sdb"});
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    EXPECT_HAS(handover.error().message, "refusing to guess (name it with imageinit.state=)");
    EXPECT_TRUE(boot.fake.log().empty());
}

TEST(BootSequence, PartitionSlotIsMountedDirectlyWithoutALoopDevice) {
    SlotABoot boot;
    FakeImage image = bootable_image("tmpfs /tmp tmpfs mode=1777\n");
    image.fstype = "squashfs";
    boot.fake.add_device({"/dev/sda3", {"PARTLABEL=root-a"}, "squashfs", "/dev/sda"});
    boot.fake.add_image("/dev/sda3", image);
    boot.cfg.slot_specs["a"] = "PARTLABEL=root-a";
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.fake.log(),
              (std::vector<std::string>{
                  kStateLine, kPersistLine, kOverlayStoreLine, "write imageinit/state",
                  "mount /dev/sda3 on /sysroot (squashfs, ro,nodev)",
                  "mount tmpfs on /sysroot/tmp (tmpfs, nosuid,nodev,mode=1777)",
                  "write /run/imageinit/slot", "write /run/imageinit/boot.json"}));
    EXPECT_EQ(boot.report().image, "/dev/sda3");
    EXPECT_EQ(boot.report().fstype, "squashfs");
}

TEST(BootSequence, ImageWithoutASpecBootsWithTheDefaultSpecSkippingMissingMountPoints) {
    SlotABoot boot;
    FakeImage image = bootable_image();
    image.dirs.erase("/tmp");
    boot.fake.add_slot_file("a", image);
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.report().spec_file, "(default spec)");
    EXPECT_EQ(boot.report().mounts,
              (std::vector<std::string>{"overlay on /etc (upper tmpfs)",
                                        "overlay on /var (upper persistent shared/var)"}));
    EXPECT_HAS(boot.report().warnings.back(), "'/tmp' does not exist in the image; skipped");
}

TEST(BootSequence, FileThatIsNoSlotImageFailsAtMountImage) {
    SlotABoot boot;
    FakeImage vfat = bootable_image();
    vfat.fstype = "vfat";
    boot.fake.add_slot_file("a", vfat);
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "mount-image");
    EXPECT_EQ(boot.report().fallbacks[0].reason,
              "'" + kImageA + "' holds 'vfat', not a slot image (squashfs, erofs or ext4)");
    EXPECT_TRUE(boot.fake.attached().empty());
}

}  // namespace
}  // namespace imageinit::boot::testing
