// The boot sequence through the small seam fakes: dm-verity, LUKS2, kexec, hooks and the
// symlink-landing refusal, each on the success path and as a failure that falls back.
#include <gtest/gtest.h>

#include <algorithm>

#include "boot/hooks.h"
#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

const std::string kImageA = "/run/imageinit/state/slots/a.img";
const std::string kVerityA = "/dev/mapper/imageinit-verity-a";

bool logged(const FakeBoot& boot, const std::string& line) {
    const auto& log = boot.fake.log();
    return std::find(log.begin(), log.end(), line) != log.end();
}

size_t index_of(const FakeBoot& boot, const std::string& prefix) {
    const auto& log = boot.fake.log();
    for (size_t i = 0; i < log.size(); ++i)
        if (log[i].starts_with(prefix)) return i;
    ADD_FAILURE() << "no log line starting with '" << prefix << "'";
    return log.size();
}

// Primary b trying, a good; b has verity sidecars, a has none.
struct VerityB : FakeBoot {
    VerityB() {
        fake.add_slot_file("a", bootable_image(kFullSpec));
        fake.add_slot_file("b", bootable_image(kFullSpec));
        fake.put_file("/run/imageinit/state/slots/b.img.verity", "tree");
        fake.put_file("/run/imageinit/state/slots/b.img.roothash", "abcd");
        set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    }
};

TEST(BootSeams, VeritySlotIsMountedThroughDmVerityAndArmedBeforeTheHandOver) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.put_file(kImageA + ".verity", "tree");
    boot.cfg.roothash["a"] = "feed";
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_TRUE(logged(boot, "verity /dev/loop0 as " + kVerityA + " (tree " + kImageA +
                                 ".verity, root hash feed)"));
    EXPECT_TRUE(logged(boot, "mount " + kVerityA + " on /sysroot (erofs, ro,nodev)"));
    // Armed after every mount of the slot, so a corrupt block in the initramfs still falls back.
    EXPECT_GT(index_of(boot, "verity restart-on-corruption imageinit-verity-a"),
              index_of(boot, "bind "));
}

TEST(BootSeams, VerityThatCannotOpenFailsTheSlotAtVerityAndTheOtherBoots) {
    VerityB boot;
    boot.fake.integrity.verity_error = Error{EINVAL, "verity table refused"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_EQ(boot.report().slot, "a");
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "verity");
    EXPECT_EQ(boot.report().fallbacks[0].reason, "verity table refused");
    EXPECT_EQ(boot.records()[1].slots.at("b").reason, "verity: verity table refused");
    EXPECT_TRUE(logged(boot, "detach /dev/loop0"));
}

TEST(BootSeams, VerityRestartThatFailsFailsTheSlot) {
    VerityB boot;
    boot.fake.integrity.restart_error = Error{EIO, "dm message refused"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "verity-restart");
    EXPECT_TRUE(logged(boot, "remove /dev/mapper/imageinit-verity-b"));
}

// /dev/sda2 is LUKS2; its mapping holds the ext4 filesystem /dev/inner.
struct LuksPersist : FakeBoot {
    LuksPersist() : FakeBoot(false) {
        fake.add_device({"/dev/sda1", {"LABEL=STATE"}, "ext4", "/dev/sda"});
        fake.add_device({"/dev/sda2", {"LABEL=PERSIST"}, "crypto_LUKS", "/dev/sda"});
        fake.add_device({"/dev/inner", {}, "ext4", "/dev/sda"});
        fake.integrity.luks_inner_device = "/dev/inner";
        fake.add_slot_file("a", bootable_image(kFullSpec));
    }
};

// Inside the slot attempt, after the image is attached (and verified) and before it is mounted:
// the unlock measures the slot first (docs/integrity.md, "TPM2").
TEST(BootSeams, LuksPersistIsUnlockedInsideTheAttemptThenItsMappingMounted) {
    LuksPersist boot;
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_FALSE(boot.report().degraded);
    size_t unlock = index_of(boot, "unlock /dev/sda2 as /dev/mapper/imageinit-persist");
    EXPECT_EQ(
        boot.fake.log().at(unlock),
        "unlock /dev/sda2 as /dev/mapper/imageinit-persist (slot a measured, root hash none)");
    EXPECT_EQ(boot.fake.log().at(unlock + 1),
              "mount /dev/mapper/imageinit-persist on /run/imageinit/persist (ext4, nosuid,nodev)");
    EXPECT_GT(unlock, index_of(boot, "attach "));
    EXPECT_LT(unlock, index_of(boot, "mount /dev/loop0 on /sysroot"));
    EXPECT_FALSE(logged(boot, "remove /dev/mapper/imageinit-persist"));  // committed
}

// Primary b trying with verity (root hash abcd), a good; PERSIST is LUKS2.
struct LuksVerityB : LuksPersist {
    LuksVerityB() {
        fake.add_slot_file("b", bootable_image(kFullSpec));
        fake.put_file("/run/imageinit/state/slots/b.img.verity", "tree");
        fake.put_file("/run/imageinit/state/slots/b.img.roothash", "abcd");
        set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    }
};

TEST(BootSeams, TpmUnsealRefusedForTheSlotFailsItAndTheProvenSlotUnlocks) {
    LuksVerityB boot;
    boot.fake.integrity.tpm_error["b"] =
        Error{EKEYREJECTED, "TPM unseal failed: no key is sealed to slot b's image"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_EQ(boot.report().slot, "a");
    EXPECT_FALSE(boot.report().degraded);
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "open-persist");
    EXPECT_HAS(boot.report().fallbacks[0].reason, "TPM unseal failed");
    // b was measured with the root hash dm-verity verified it with; its image never mounted.
    EXPECT_TRUE(logged(boot, "unlock /dev/sda2 (slot b measured, root hash abcd) refused"));
    EXPECT_FALSE(
        logged(boot, "mount /dev/mapper/imageinit-verity-b on /sysroot (erofs, ro,nodev)"));
    EXPECT_TRUE(logged(boot, "remove /dev/mapper/imageinit-verity-b"));
    EXPECT_TRUE(logged(boot,
                       "unlock /dev/sda2 as /dev/mapper/imageinit-persist "
                       "(slot a measured, root hash none)"));
}

TEST(BootSeams, SlotThatFailsAfterTheUnlockClosesPersistForTheNextAttempt) {
    LuksVerityB boot;
    boot.fake.integrity.restart_error = Error{EIO, "dm message refused"};  // b fails late
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_EQ(boot.report().slot, "a");
    size_t closed = index_of(boot, "remove /dev/mapper/imageinit-persist");
    size_t unmounted = index_of(boot, "umount /run/imageinit/persist");
    EXPECT_LT(unmounted, closed);
    EXPECT_GT(index_of(boot, "unlock /dev/sda2 as /dev/mapper/imageinit-persist (slot a"), closed);
}

TEST(BootSeams, LuksThatStaysLockedDegradesTheBoot) {
    LuksPersist boot;
    boot.fake.integrity.luks_error = Error{EPERM, "no key fits"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_TRUE(boot.report().degraded);
    EXPECT_TRUE(std::any_of(boot.report().warnings.begin(), boot.report().warnings.end(),
                            [](const std::string& w) {
                                return w.starts_with(
                                    "DEGRADED: persistent partition /dev/sda2 "
                                    "stays locked: no key fits");
                            }));
    auto mounted = boot.fake.mounted();
    EXPECT_EQ(std::count(mounted.begin(), mounted.end(), "/run/imageinit/persist"), 0);
}

TEST(BootSeams, MountFailureAfterUnlockClosesTheMappingAndDegrades) {
    LuksPersist boot;
    boot.fake.fail_on("mount", "/run/imageinit/persist", EINVAL);
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_TRUE(boot.report().degraded);
    EXPECT_TRUE(logged(boot, "remove /dev/mapper/imageinit-persist"));
}

TEST(BootSeams, LuksFailureWithPersistRequiredFailsTheBootAtOpenPersist) {
    LuksPersist boot;
    boot.cfg.persist_required = true;
    boot.fake.integrity.luks_error = Error{EPERM, "no key fits"};
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    EXPECT_HAS(handover.error().message,
               "step open-persist: persistent partition /dev/sda2 "
               "stays locked: no key fits and imageinit.persist."
               "required is set");
}

FakeImage with_kernel() {
    FakeImage image = bootable_image(kFullSpec);
    image.contents["/boot/vmlinuz"] = "not a bzImage: the kernel judges";
    image.contents["/boot/initrd.img"] = "initrd";
    return image;
}

TEST(BootSeams, SlotWithItsOwnKernelIsLoadedForKexecAndItsMountsUnwind) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", with_kernel());
    boot.fake.processes.executables[std::string(kHooksDir) + "/pre-pivot"] = {"10-y"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_TRUE(handover->kexec);
    // The rest of the slot's boot (pre-pivot hooks, verity arming) happens in the new kernel.
    for (const auto& line : boot.fake.log()) EXPECT_FALSE(line.starts_with("run ")) << line;
    size_t load = index_of(boot, "kexec load /sysroot/boot/vmlinuz + /boot/initrd.img (");
    EXPECT_HAS(boot.fake.log()[load], "imageinit.slot=a");
    EXPECT_GT(index_of(boot, "umount /sysroot"), load);  // the kernel keeps its own copy
}

// docs/integrity.md, "A slot with its own kernel": PID 1 measures the verified image it kexecs
// into PCR 15 (pid1.cpp, boot::tpm_close_boot), and that kernel's PID 1 unseals with the image's
// kexec keys.
TEST(BootSeams, KexecHandoverNamesTheVerifiedRootHashForTheTpm) {
    LuksVerityB boot;
    boot.fake.add_slot_file("b", with_kernel());
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_TRUE(handover->kexec);
    EXPECT_EQ(handover->kexec_roothash, "abcd");
    EXPECT_TRUE(logged(boot,
                       "unlock /dev/sda2 as /dev/mapper/imageinit-persist "
                       "(slot b measured, root hash abcd)"));
}

TEST(BootSeams, KexecdBootUnlocksPersistWithTheKexecStageKeys) {
    LuksVerityB boot;
    boot.cmdline.kexec_marker = true;
    boot.cfg.forced_slot = "b";
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_FALSE(handover->kexec);
    EXPECT_TRUE(handover->kexec_roothash.empty());
    EXPECT_TRUE(logged(boot,
                       "unlock /dev/sda2 as /dev/mapper/imageinit-persist "
                       "(slot b measured, root hash abcd, kexec'd stage)"));
}

TEST(BootSeams, KexecLoadThatFailsFailsTheSlotAtKexecLoad) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.add_slot_file("b", with_kernel());
    boot.set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    boot.fake.kexec.load_error = Error{ENOEXEC, "kexec_file_load: Exec format error"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_FALSE(handover->kexec);
    ASSERT_EQ(boot.report().fallbacks.size(), 1u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "kexec-load");
    EXPECT_EQ(boot.report().slot, "a");
}

TEST(BootSeams, HooksRunBeforeAndAfterTheMountsOfTheSlot) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.processes.executables[std::string(kHooksDir) + "/pre-mount"] = {"10-x"};
    boot.fake.processes.executables[std::string(kHooksDir) + "/pre-pivot"] = {"10-y"};
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    size_t pre_mount = index_of(boot, "run /usr/lib/imageinit/hooks/pre-mount/10-x");
    size_t pre_pivot = index_of(boot, "run /usr/lib/imageinit/hooks/pre-pivot/10-y");
    EXPECT_GT(pre_mount, index_of(boot, "mount /dev/loop0 on /sysroot"));
    EXPECT_LT(pre_mount, index_of(boot, "mount tmpfs on /sysroot/tmp"));
    EXPECT_GT(pre_pivot, index_of(boot, "bind "));
}

TEST(BootSeams, HookThatRejectsTheSlotFailsItAtItsStage) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    std::string hook = std::string(kHooksDir) + "/pre-mount/10-x";
    boot.fake.processes.executables[std::string(kHooksDir) + "/pre-mount"] = {"10-x"};
    boot.fake.processes.exits[hook] = kHookRejectsSlot;
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    ASSERT_FALSE(boot.report().fallbacks.empty());
    EXPECT_EQ(boot.report().fallbacks[0].step, "pre-mount");
    EXPECT_EQ(boot.fake.mounted().size(), 3u);  // state, persist, overlay store: nothing of a
}

TEST(BootSeams, MountPointThatLandsElsewhereThroughASymlinkFailsTheSlot) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.add_slot_file("b", bootable_image(kFullSpec));
    boot.set_record(make_record("b", {{"a", good()}, {"b", trying(2)}}));
    boot.fake.land("/sysroot/tmp", "/sysroot/var/tmp");
    auto handover = boot.run();
    // Both slots carry the same link: neither boots, each refused at apply-mounts.
    ASSERT_FALSE(handover);
    ASSERT_EQ(boot.report().fallbacks.size(), 2u);
    EXPECT_EQ(boot.report().fallbacks[0].step, "apply-mounts");
    EXPECT_HAS(boot.report().fallbacks[0].reason,
               "'/tmp' resolves to '/var/tmp' through a symlink: refusing to mount there");
}

}  // namespace
}  // namespace imageinit::boot::testing
