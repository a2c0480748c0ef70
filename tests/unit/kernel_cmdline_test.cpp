// core::KernelCmdline: one parse of /proc/cmdline gives every reader its part (boot config,
// module options, the kexec marker, the image init and its arguments).
#include "core/kernel_cmdline.h"

#include <gtest/gtest.h>

namespace imageinit::core {
namespace {

TEST(KernelCmdline, OneParseGivesEveryReaderItsPart) {
    KernelCmdline c = parse_kernel_cmdline(
        "BOOT_IMAGE=/vmlinuz console=ttyS0 imageinit.slot=b imageinit.kexec=b "
        "virtio_blk.queue_depth=64 modprobe.blacklist=floppy,pcspkr init=/bin/init -- single");
    EXPECT_EQ(c.raw.substr(0, 20), "BOOT_IMAGE=/vmlinuz ");
    EXPECT_EQ(c.boot.forced_slot, "b");
    EXPECT_EQ(c.boot.init, "/bin/init");
    EXPECT_EQ(c.boot.init_args, std::vector<std::string>{"single"});
    EXPECT_TRUE(c.boot.warnings.empty()) << c.boot.warnings.front();
    EXPECT_EQ(c.modules.options.at("virtio_blk"), "queue_depth=64");
    EXPECT_EQ(c.modules.blacklist, (std::set<std::string>{"floppy", "pcspkr"}));
    EXPECT_TRUE(c.kexec_marker);
}

TEST(KernelCmdline, MarkerAfterDashesBelongsToTheImageInit) {
    KernelCmdline c = parse_kernel_cmdline("quiet -- imageinit.kexec=b");
    EXPECT_FALSE(c.kexec_marker);
    EXPECT_EQ(c.boot.init_args, std::vector<std::string>{"imageinit.kexec=b"});
}

TEST(KernelCmdline, EmptyLineGivesTheDefaults) {
    KernelCmdline c = parse_kernel_cmdline("");
    EXPECT_EQ(c.boot.state_spec, "LABEL=STATE");
    EXPECT_TRUE(c.modules.options.empty());
    EXPECT_TRUE(c.modules.blacklist.empty());
    EXPECT_FALSE(c.kexec_marker);
}

}  // namespace
}  // namespace imageinit::core
