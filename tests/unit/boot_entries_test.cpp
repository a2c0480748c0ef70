// The ESP boot menu (core/boot_entries.h): entries, systemd-boot files, grub.cfg.
#include "core/boot_entries.h"

#include <gtest/gtest.h>

namespace imageinit::core {
namespace {

TEST(BootEntries, DefaultThenEverySlotThenFactoryReset) {
    auto e = boot_entries("console=ttyS0", {"a", "b", "recovery"});
    ASSERT_EQ(e.size(), 5u);
    EXPECT_EQ(e[0].id, "imageinit");
    EXPECT_EQ(e[0].options, "console=ttyS0");
    EXPECT_EQ(e[1].options, "console=ttyS0 imageinit.slot=a");
    EXPECT_EQ(e[3].id, "imageinit-slot-recovery");
    EXPECT_EQ(e[4].id, "imageinit-factory-reset");
    EXPECT_EQ(e[4].options, "console=ttyS0 imageinit.reset=persist");
}

TEST(BootEntries, EmptyCmdlineLeavesNoStraySpace) {
    auto e = boot_entries("", {"a"});
    EXPECT_EQ(e[0].options, "");
    EXPECT_EQ(e[1].options, "imageinit.slot=a");
}

TEST(BootEntries, SystemdBootLoaderConfDefaultsToImageinitAndEntriesKeepMenuOrder) {
    auto files = systemd_boot_files(boot_entries("quiet", {"a", "b"}));
    ASSERT_EQ(files.size(), 5u);
    EXPECT_EQ(files[0].path, "loader/loader.conf");
    EXPECT_EQ(files[0].content, "default imageinit.conf\ntimeout 0\neditor no\n");
    EXPECT_EQ(files[4].path, "loader/entries/imageinit-factory-reset.conf");
    EXPECT_EQ(files[2].content,
              "title imageinit: slot a only\nsort-key imageinit-01\nlinux /imageinit/vmlinuz\n"
              "initrd /imageinit/initrd.img\noptions quiet imageinit.slot=a\n");
}

TEST(BootEntries, GrubConfigFindsTheEspAndHasOneMenuentryEach) {
    std::string cfg = grub_config(boot_entries("quiet", {"a"}));
    EXPECT_NE(cfg.find("search --no-floppy --set=root --file /imageinit/vmlinuz\n"),
              std::string::npos);
    EXPECT_NE(cfg.find("menuentry 'imageinit: factory reset (empties PERSIST)' {\n"
                       "    linux /imageinit/vmlinuz quiet imageinit.reset=persist\n"),
              std::string::npos)
        << cfg;
    size_t n = 0;
    for (size_t at = 0; (at = cfg.find("menuentry", at)) != std::string::npos; ++at) ++n;
    EXPECT_EQ(n, 3u);
}

}  // namespace
}  // namespace imageinit::core
