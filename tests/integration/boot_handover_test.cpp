// switch_root inside a chroot that stands in for the initramfs, and the device waiter's
// coldplug and deadline.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include "namespace_fixture.h"
#include "os/devwait.h"
#include "os/files.h"
#include "os/loop.h"
#include "os/mount.h"
#include "os/switch_root.h"

namespace imageinit::os {
namespace {

using imageinit::testing::NamespaceTest;

// A tmpfs "initramfs" with /dev /proc /sys /run mounted and a new root at /sysroot: after the
// switch the new root is "/", the four mounts moved with it and the old content is freed.
TEST_F(NamespaceTest, SwitchRootMovesApiMountsAndFreesTheInitramfs) {
    std::string fake = path("initramfs");
    ASSERT_TRUE(sh("mkdir -p " + fake));
    in_namespace([&] {
        ASSERT_TRUE(mount("tmpfs", fake, "tmpfs", 0, "size=8M"));
        ASSERT_TRUE(sh("cd " + fake + " && mkdir -p dev proc sys run sysroot bin/sub && echo x > " +
                       fake + "/bin/sub/file && ln -s sub " + fake + "/bin/link"));
        for (const char* m : {"/dev", "/proc", "/sys", "/run"})
            ASSERT_TRUE(mount("tmpfs", fake + m, "tmpfs", 0, "size=1M"));
        ASSERT_TRUE(write_file(fake + "/run/boot.json", "{}\n"));
        ASSERT_TRUE(mount("tmpfs", fake + "/sysroot", "tmpfs", 0, "size=4M"));
        ASSERT_TRUE(sh("cd " + fake + "/sysroot && mkdir -p dev proc sys run sbin && echo new > " +
                       fake + "/sysroot/marker"));

        UniqueFd old_root(::open(fake.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(old_root.valid());
        ASSERT_EQ(::chroot(fake.c_str()), 0);
        ASSERT_EQ(::chdir("/"), 0);

        auto r = switch_root("/sysroot");
        ASSERT_TRUE(r) << r.error().message;
        auto marker = read_file("/marker", 100);
        ASSERT_TRUE(marker) << marker.error().message;
        EXPECT_EQ(*marker, "new\n");
        auto report = read_file("/run/boot.json", 100);
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_EQ(*report, "{}\n");

        // The old rootfs, still reachable through our fd, is empty now. (No /proc/self/fd
        // here: /proc is the stand-in tmpfs.)
        DIR* d = ::fdopendir(old_root.release());
        ASSERT_NE(d, nullptr);
        std::set<std::string> left;
        while (struct dirent* de = ::readdir(d))
            if (std::string(de->d_name) != "." && std::string(de->d_name) != "..")
                left.insert(de->d_name);
        ::closedir(d);
        EXPECT_TRUE(left.empty()) << "left: " << left.size() << " entries, e.g. "
                                  << (left.empty() ? "" : *left.begin());
    });
}

TEST_F(NamespaceTest, SwitchRootRefusesMissingMountPointsAndNonMounts) {
    std::string fake = path("initramfs");
    ASSERT_TRUE(sh("mkdir -p " + fake));
    in_namespace([&] {
        ASSERT_TRUE(mount("tmpfs", fake, "tmpfs", 0, "size=8M"));
        ASSERT_TRUE(sh("cd " + fake + " && mkdir -p dev proc sys run sysroot plain"));
        ASSERT_TRUE(mount("tmpfs", fake + "/sysroot", "tmpfs", 0, "size=1M"));
        ASSERT_TRUE(sh("cd " + fake + "/sysroot && mkdir -p dev proc sys && echo keep > " + fake +
                       "/keep"));
        ASSERT_EQ(::chroot(fake.c_str()), 0);
        ASSERT_EQ(::chdir("/"), 0);

        auto not_mount = switch_root("/plain");
        ASSERT_FALSE(not_mount);
        EXPECT_EQ(not_mount.error().message, "switch root: '/plain' is not a mount point");
        auto no_run = switch_root("/sysroot");
        ASSERT_FALSE(no_run);
        EXPECT_EQ(no_run.error().message, "stat '/sysroot/run': No such file or directory");
        EXPECT_TRUE(read_file("/keep", 100));  // nothing was deleted or moved
    });
}

TEST_F(NamespaceTest, DeviceWaiterColdplugsModaliasesOnceAndHonoursTheDeadline) {
    in_namespace([&] {
        std::vector<std::string> seen;
        auto waiter = DeviceWaiter::open([&](const std::string& m) { seen.push_back(m); });
        ASSERT_TRUE(waiter) << waiter.error().message;
        waiter->coldplug();
        size_t first = seen.size();
        waiter->coldplug();
        EXPECT_EQ(seen.size(), first) << "each modalias goes to the handler once";
        std::set<std::string> unique(seen.begin(), seen.end());
        EXPECT_EQ(unique.size(), seen.size());

        EXPECT_TRUE(
            waiter->wait_until([] { return true; }, std::chrono::steady_clock::now(), "nothing"));
        auto start = std::chrono::steady_clock::now();
        auto r = waiter->wait_until([] { return false; }, start + std::chrono::milliseconds(200),
                                    "LABEL=NOPE");
        auto took = std::chrono::steady_clock::now() - start;
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ETIMEDOUT);
        EXPECT_EQ(r.error().message,
                  "LABEL=NOPE did not appear before the deadline (imageinit.timeout)");
        EXPECT_GE(took, std::chrono::milliseconds(200));
        EXPECT_LT(took, std::chrono::seconds(2));
    });
}

// A loop device appearing while we wait wakes the waiter through its uevent, well before the
// deadline.
TEST_F(NamespaceTest, DeviceWaiterWakesOnAUevent) {
    ASSERT_TRUE(sh("mkfs.ext4 -q " + path("fs.img") + " 4M"));
    in_namespace([&] {
        auto waiter = DeviceWaiter::open(nullptr);
        ASSERT_TRUE(waiter);
        auto loop = attach_loop(path("fs.img"));
        ASSERT_TRUE(loop);
        int checks = 0;
        auto start = std::chrono::steady_clock::now();
        auto r = waiter->wait_until([&] { return ++checks >= 2; }, start + std::chrono::seconds(5),
                                    "a uevent");
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
    });
}

}  // namespace
}  // namespace imageinit::os
