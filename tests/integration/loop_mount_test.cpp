// Loop-attached squashfs/erofs/ext4 images built at test time, autoclear, MountGuard, and
// tmpfs/overlay/bind mounts addressed through /proc/self/fd paths.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "namespace_fixture.h"
#include "os/blkid.h"
#include "os/files.h"
#include "os/loop.h"
#include "os/mount.h"

namespace imageinit::os {
namespace {

using imageinit::testing::NamespaceTest;

bool is_mount_point(const std::string& p) {
    struct stat a, b;
    if (::stat(p.c_str(), &a) < 0 || ::stat((p + "/..").c_str(), &b) < 0) return false;
    return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

std::string slurp(const std::string& p) {
    auto r = read_file(p, 1 << 20);
    return r ? *r : std::string("<unreadable: ") + r.error().message + ">";
}

class ImageMount : public NamespaceTest, public ::testing::WithParamInterface<const char*> {};

// Builds an image of the given type from a small tree, attaches and mounts it read-only.
TEST_P(ImageMount, AttachProbeMountReadOnly) {
    std::string type = GetParam();
    std::string tool = type == "squashfs" ? "mksquashfs"
                       : type == "erofs"  ? "mkfs.erofs"
                                          : "mkfs.ext4";
    if (!have_tool(tool)) GTEST_SKIP() << tool << " not installed";
    std::string tree = path("tree"), img = path("root.img"), mnt = path("mnt");
    ASSERT_TRUE(sh("mkdir -p " + tree + "/etc " + mnt + " && echo hello > " + tree + "/etc/hi"));
    std::string cmd = type == "squashfs" ? "mksquashfs " + tree + " " + img + " -quiet -noappend"
                      : type == "erofs"  ? "mkfs.erofs --quiet -zlz4hc " + img + " " + tree
                                         : "mkfs.ext4 -q -b 4096 -d " + tree + " " + img + " 8M";
    ASSERT_TRUE(sh(cmd + " >/dev/null"));

    in_namespace([&] {
        auto loop = attach_loop(img);
        ASSERT_TRUE(loop) << loop.error().message;
        EXPECT_TRUE(loop->path.starts_with("/dev/loop"));
        std::string sys = "/sys/block/" + loop->path.substr(5);
        EXPECT_EQ(slurp(sys + "/ro"), "1\n");
        EXPECT_EQ(slurp(sys + "/loop/autoclear"), "1\n");

        auto fstype = probe_fstype(loop->path);
        ASSERT_TRUE(fstype) << fstype.error().message;
        EXPECT_EQ(*fstype, type);
        auto on_file = probe_fstype(img);
        ASSERT_TRUE(on_file) << on_file.error().message;
        EXPECT_EQ(*on_file, type);

        auto m = mount(loop->path, mnt, *fstype, MS_RDONLY | MS_NODEV | MS_NOSUID, "");
        ASSERT_TRUE(m) << m.error().message;
        EXPECT_EQ(slurp(mnt + "/etc/hi"), "hello\n");
        EXPECT_LT(::open((mnt + "/new").c_str(), O_WRONLY | O_CREAT, 0644), 0);
        EXPECT_EQ(errno, EROFS);
    });
}

INSTANTIATE_TEST_SUITE_P(Types, ImageMount, ::testing::Values("squashfs", "erofs", "ext4"),
                         [](const auto& info) { return std::string(info.param); });

TEST_F(NamespaceTest, LoopDeviceIsGoneAfterFdAndMountAreDropped) {
    std::string img = path("fs.img"), mnt = path("mnt");
    ASSERT_TRUE(sh("mkdir -p " + mnt + " && mkfs.ext4 -q " + img + " 4M >/dev/null"));
    in_namespace([&] {
        std::string backing;
        {
            auto loop = attach_loop(img);
            ASSERT_TRUE(loop) << loop.error().message;
            backing = "/sys/block/" + loop->path.substr(5) + "/loop/backing_file";
            ASSERT_TRUE(mount(loop->path, mnt, "ext4", MS_RDONLY, ""));
        }  // our fd is closed: the mount alone holds the device now
        EXPECT_EQ(slurp(backing), img + "\n");
        ASSERT_TRUE(umount(mnt, 0));
        // The autoclear runs when the last opener goes; allow the kernel a moment for it.
        for (int i = 0; i < 200 && ::access(backing.c_str(), F_OK) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_NE(::access(backing.c_str(), F_OK), 0) << "loop device still bound";
    });
}

TEST_F(NamespaceTest, AttachMissingFileNamesIt) {
    in_namespace([&] {
        auto loop = attach_loop(path("missing.img"));
        ASSERT_FALSE(loop);
        EXPECT_EQ(loop.error().code, ENOENT);
        EXPECT_NE(loop.error().message.find("missing.img'"), std::string::npos);
    });
}

TEST_F(NamespaceTest, MountGuardUnmountsUnlessCommitted) {
    std::string a = path("a"), b = path("b");
    ASSERT_TRUE(sh("mkdir -p " + a + " " + b));
    in_namespace([&] {
        {
            ASSERT_TRUE(mount("tmpfs", a, "tmpfs", 0, "size=1M"));
            MountGuard guard(a);
            EXPECT_TRUE(is_mount_point(a));
        }
        EXPECT_FALSE(is_mount_point(a));
        {
            ASSERT_TRUE(mount("tmpfs", b, "tmpfs", 0, "size=1M"));
            MountGuard guard(b);
            MountGuard moved = std::move(guard);
            moved.commit();
        }
        EXPECT_TRUE(is_mount_point(b));
    });
}

TEST_F(NamespaceTest, MountErrorNamesSourceTargetAndType) {
    in_namespace([&] {
        auto r = mount("none", path("nope"), "tmpfs", 0, "");
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ENOENT);
        EXPECT_EQ(r.error().message,
                  "mount 'none' on '" + path("nope") + "' (tmpfs): No such file or directory");
    });
}

// Overlay options name layers by /proc/self/fd paths of fds resolved beforehand.
TEST_F(NamespaceTest, OverlayWithFdPathLayers) {
    ASSERT_TRUE(sh("mkdir -p " + path("lower/etc") + " " + path("scratch") + " " + path("target") +
                   " && echo image > " + path("lower/etc/motd")));
    in_namespace([&] {
        ASSERT_TRUE(mount("tmpfs", path("scratch"), "tmpfs", 0, "mode=0755,size=4M"));
        ASSERT_TRUE(sh("mkdir " + path("scratch/upper") + " " + path("scratch/work")));
        auto lower = open_dir(path("lower/etc"), O_PATH);
        auto upper = open_dir(path("scratch/upper"), O_PATH);
        auto work = open_dir(path("scratch/work"), O_PATH);
        auto target = open_dir(path("target"), O_PATH);
        ASSERT_TRUE(lower && upper && work && target);
        std::string opts = "lowerdir=" + fd_path(lower->get()) +
                           ",upperdir=" + fd_path(upper->get()) +
                           ",workdir=" + fd_path(work->get());
        auto m = mount_on_fd("overlay", target->get(), "overlay", 0, opts, "/etc");
        ASSERT_TRUE(m) << m.error().message;
        EXPECT_EQ(slurp(path("target/motd")), "image\n");
        ASSERT_TRUE(write_file(path("target/motd"), "changed\n"));
        EXPECT_EQ(slurp(path("scratch/upper/motd")), "changed\n");
        EXPECT_EQ(slurp(path("lower/etc/motd")), "image\n");
    });
}

TEST_F(NamespaceTest, BindFdsAppliesReadOnlyToTheNewMount) {
    ASSERT_TRUE(sh("mkdir -p " + path("src") + " " + path("dst") + " " + path("plain")));
    in_namespace([&] {
        auto src = open_dir(path("src"), O_PATH);
        auto dst = open_dir(path("dst"), O_PATH);
        auto plain = open_dir(path("plain"), O_PATH);
        ASSERT_TRUE(src && dst && plain);
        auto r = bind_fds(src->get(), dst->get(), MS_RDONLY | MS_NODEV, "src", "dst");
        ASSERT_TRUE(r) << r.error().message;
        struct statfs sf;
        ASSERT_EQ(::statfs(path("dst").c_str(), &sf), 0);
        EXPECT_TRUE(sf.f_flags & ST_RDONLY);
        EXPECT_TRUE(sf.f_flags & ST_NODEV);
        EXPECT_TRUE(write_file(path("src/x"), "w\n"));  // the source stays writable
        EXPECT_EQ(slurp(path("dst/x")), "w\n");

        ASSERT_TRUE(bind_fds(src->get(), plain->get(), 0, "src", "plain"));
        EXPECT_TRUE(write_file(path("plain/y"), "y\n"));
    });
}

}  // namespace
}  // namespace imageinit::os
