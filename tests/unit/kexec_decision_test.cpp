// core::decide_kexec and friends: when a slot's own kernel is booted with kexec, and with which
// command line (contract §7).
#include "core/kexec_decision.h"

#include <gtest/gtest.h>

#include "core/kernel_cmdline.h"

namespace imageinit::core {
namespace {

constexpr const char* kRelease = "6.1.0-13-amd64";
constexpr const char* kVersion = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)";
constexpr const char* kRunning =
    "6.1.0-13-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 "
    "(2023-09-29)";
constexpr const char* kOther =
    "6.1.0-13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian "
    "6.1.55-1 (2023-09-29)";

// A minimal bzImage head: the setup header magic, protocol 2.15, the version string at 0x1000.
std::string fake_bzimage(const std::string& version, uint16_t protocol = 0x20f) {
    std::string head(0x2000, '\0');
    head.replace(0x202, 4, "HdrS");
    head[0x206] = static_cast<char>(protocol & 0xff);
    head[0x207] = static_cast<char>(protocol >> 8);
    uint16_t ptr = 0x1000 - 0x200;
    head[0x20E] = static_cast<char>(ptr & 0xff);
    head[0x20F] = static_cast<char>(ptr >> 8);
    head.replace(0x1000, version.size(), version);
    return head;
}

KexecInput input(std::optional<std::string> version = kOther) {
    KexecInput in;
    in.slot = "b";
    in.cmdline = "BOOT_IMAGE=/vmlinuz console=ttyS0 panic=-1 quiet\n";
    in.running_release = kRelease;
    in.running_version = kVersion;
    in.has_kernel = true;
    in.has_initrd = true;
    in.kernel_version = std::move(version);
    return in;
}

TEST(BzImageVersion, ReadsTheStringTheHeaderPointsTo) {
    EXPECT_EQ(bzimage_version(fake_bzimage(kRunning)), kRunning);
}

TEST(BzImageVersion, RejectsWhatIsNotABzImage) {
    EXPECT_EQ(bzimage_version(""), std::nullopt);
    EXPECT_EQ(bzimage_version(std::string(0x2000, 'x')), std::nullopt);
    EXPECT_EQ(bzimage_version(fake_bzimage(kRunning, 0x1ff)), std::nullopt);  // too old
    std::string unterminated = fake_bzimage(std::string(0x1000, 'v'));
    EXPECT_EQ(bzimage_version(unterminated), std::nullopt);
    std::string zero_ptr = fake_bzimage(kRunning);
    zero_ptr[0x20E] = zero_ptr[0x20F] = '\0';
    EXPECT_EQ(bzimage_version(zero_ptr), std::nullopt);
    std::string control = fake_bzimage("6.1\x01");
    EXPECT_EQ(bzimage_version(control), std::nullopt);
}

TEST(SameKernel, ComparesReleaseAndVersion) {
    EXPECT_TRUE(same_kernel(kRunning, kRelease, kVersion));
    EXPECT_FALSE(same_kernel(kOther, kRelease, kVersion));
    EXPECT_FALSE(
        same_kernel(kRunning, kRelease, "#2 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)"));
    EXPECT_FALSE(same_kernel(kRunning, "", ""));
}

TEST(DecideKexec, NoKernelInTheSlotMeansNoKexec) {
    KexecInput in = input();
    in.has_kernel = false;
    in.has_initrd = false;
    auto d = decide_kexec(in);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->kexec);
}

TEST(DecideKexec, SameKernelMeansNoKexec) {
    auto d = decide_kexec(input(kRunning));
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->kexec);
    EXPECT_NE(d->why.find("running one"), std::string::npos);
}

TEST(DecideKexec, DifferentKernelIsKexecdWithTheSlotForced) {
    auto d = decide_kexec(input());
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->kexec);
    EXPECT_EQ(
        d->cmdline,
        "BOOT_IMAGE=/vmlinuz console=ttyS0 panic=-1 quiet imageinit.slot=b imageinit.kexec=b");
}

TEST(DecideKexec, UnreadableVersionLetsTheKernelJudge) {
    auto d = decide_kexec(input(std::nullopt));
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->kexec);
    EXPECT_NE(d->why.find("unreadable"), std::string::npos);
}

TEST(DecideKexec, NoLoopOnceKexecd) {
    KexecInput in = input();
    // The marker as PID 1 hands it down: found once, when the command line is parsed.
    auto cmdline = parse_kernel_cmdline("console=ttyS0 imageinit.slot=b imageinit.kexec=b");
    in.cmdline = cmdline.raw;
    in.kexec_marker = cmdline.kexec_marker;
    in.running_release = "something-else";  // even if the identity check is fooled
    auto d = decide_kexec(in);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->kexec);
}

TEST(DecideKexec, ABootloaderForcedSlotStillGetsItsKernel) {
    KexecInput in = input();
    in.cmdline = "console=ttyS0 imageinit.slot=b";
    auto d = decide_kexec(in);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->kexec);
    EXPECT_EQ(d->cmdline, "console=ttyS0 imageinit.slot=b imageinit.kexec=b");
}

TEST(DecideKexec, KernelWithoutInitrdFailsTheAttempt) {
    KexecInput in = input();
    in.has_initrd = false;
    auto d = decide_kexec(in);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().message.find("/boot/initrd.img"), std::string::npos);
}

TEST(KexecCmdline, ReplacesSlotWordsAndKeepsEverythingElse) {
    auto c = kexec_cmdline(
        "root=x imageinit.slot=a imageinit.slot.b=PARTLABEL=b \"opt=a b\" imageinit.kexec=a", "b");
    ASSERT_TRUE(c);
    EXPECT_EQ(*c,
              "root=x imageinit.slot.b=PARTLABEL=b \"opt=a b\" imageinit.slot=b imageinit.kexec=b");
}

TEST(KexecCmdline, InsertsBeforeTheInitArguments) {
    auto c = kexec_cmdline("console=ttyS0 -- single imageinit.slot=a", "b");
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, "console=ttyS0 imageinit.slot=b imageinit.kexec=b -- single imageinit.slot=a");
    EXPECT_FALSE(has_kexec_marker("console=ttyS0 -- imageinit.kexec=b"));
    EXPECT_TRUE(has_kexec_marker(*c));
}

TEST(KexecCmdline, RefusesWhatTheKernelCannotTake) {
    auto c = kexec_cmdline(std::string(2030, 'x'), "b");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, E2BIG);
}

}  // namespace
}  // namespace imageinit::core
