// The safe resolver: openat2 scoping inside a root, the no-symlink walk for the persistent
// partition, mkdir -p that refuses symlinks, and mounts that a symlink swap cannot redirect.
#include "os/resolve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "namespace_fixture.h"
#include "os/files.h"
#include "os/mount.h"

namespace imageinit::os {
namespace {

using imageinit::testing::NamespaceTest;

std::string read_at(const UniqueFd& fd) {
    auto r = read_file("/proc/self/fd/" + std::to_string(fd.get()), 4096);
    return r ? *r : "<" + r.error().message + ">";
}

bool is_mount_point(const std::string& p) {
    struct stat a, b;
    if (::stat(p.c_str(), &a) < 0 || ::stat((p + "/..").c_str(), &b) < 0) return false;
    return a.st_dev != b.st_dev;
}

// A root whose symlinks point outside it, absolutely and with "..", must resolve to files in
// the root: "/" and ".." stop at the root as they would after chroot.
TEST_F(NamespaceTest, OpenInRootKeepsSymlinksInside) {
    std::string root = path("root");
    ASSERT_TRUE(sh("mkdir -p " + root + "/etc " + root + "/secret " + path("secret") +
                   " && echo inside > " + root + "/secret/key && echo OUTSIDE > " +
                   path("secret/key") + " && ln -s /secret " + root + "/etc/abs" +
                   " && ln -s ../../../../secret " + root + "/etc/rel" + " && ln -s " +
                   path("secret") + " " + root + "/etc/full"));
    in_namespace([&] {
        auto rfd = open_dir(root, O_PATH);
        ASSERT_TRUE(rfd);
        for (const char* p :
             {"/etc/abs/key", "/etc/rel/key", "/../../secret/key", "etc/../../secret/key"}) {
            auto fd = open_in_root(rfd->get(), p, O_RDONLY);
            ASSERT_TRUE(fd) << p << ": " << fd.error().message;
            EXPECT_EQ(read_at(*fd), "inside\n") << p;
        }
        // The full host path does not exist inside the root.
        auto full = open_in_root(rfd->get(), "/etc/full/key", O_RDONLY);
        ASSERT_FALSE(full);
        EXPECT_EQ(full.error().code, ENOENT);
        EXPECT_EQ(full.error().message, "openat2 '/etc/full/key': No such file or directory");
    });
}

// /proc/self/root inside the root would jump to the real "/": magic links are refused.
TEST_F(NamespaceTest, OpenInRootRefusesMagicLinks) {
    std::string root = path("root");
    ASSERT_TRUE(sh("mkdir -p " + root + "/proc"));
    in_namespace([&] {
        ASSERT_TRUE(mount("proc", root + "/proc", "proc", 0, ""));
        auto rfd = open_dir(root, O_PATH);
        ASSERT_TRUE(rfd);
        auto fd = open_in_root(rfd->get(), "/proc/self/root/etc", O_PATH);
        ASSERT_FALSE(fd);
        EXPECT_EQ(fd.error().code, ELOOP);
    });
}

TEST_F(NamespaceTest, OpenBeneathRefusesASymlinkedPersistentDir) {
    std::string persist = path("persist");
    ASSERT_TRUE(sh("mkdir -p " + persist + "/shared/real " + path("elsewhere") + " && ln -s " +
                   path("elsewhere") + " " + persist + "/shared/etc && ln -s real " + persist +
                   "/shared/rel"));
    in_namespace([&] {
        auto pfd = open_dir(persist, O_PATH);
        ASSERT_TRUE(pfd);
        auto ok_fd = open_beneath_no_symlinks(pfd->get(), "/shared/real", O_PATH | O_DIRECTORY);
        ASSERT_TRUE(ok_fd) << ok_fd.error().message;
        for (const char* p : {"/shared/etc", "shared/rel", "/shared/../../x"}) {
            auto fd = open_beneath_no_symlinks(pfd->get(), p, O_PATH | O_DIRECTORY);
            ASSERT_FALSE(fd) << p;
            EXPECT_TRUE(fd.error().code == ELOOP || fd.error().code == EXDEV) << fd.error().message;
        }
    });
}

TEST_F(NamespaceTest, MkdirPBeneathCreatesAndRefusesSymlinkComponents) {
    std::string persist = path("persist");
    ASSERT_TRUE(sh("mkdir -p " + persist + "/shared " + path("outside") + " && ln -s " +
                   path("outside") + " " + persist + "/shared/var"));
    in_namespace([&] {
        auto pfd = open_dir(persist, O_PATH);
        ASSERT_TRUE(pfd);
        auto made = mkdir_p_beneath(pfd->get(), "/shared/etc/ssh", 0755);
        ASSERT_TRUE(made) << made.error().message;
        struct stat st;
        ASSERT_EQ(::stat((persist + "/shared/etc/ssh").c_str(), &st), 0);
        EXPECT_TRUE(S_ISDIR(st.st_mode));
        // Existing directories are fine.
        EXPECT_TRUE(mkdir_p_beneath(pfd->get(), "shared/etc", 0755));

        auto bad = mkdir_p_beneath(pfd->get(), "/shared/var/lib/x", 0755);
        ASSERT_FALSE(bad);
        EXPECT_EQ(bad.error().code, ENOTDIR);
        EXPECT_EQ(bad.error().message, "open '/shared/var': Not a directory");
        EXPECT_NE(::access((path("outside") + "/lib").c_str(), F_OK), 0);
        EXPECT_FALSE(mkdir_p_beneath(pfd->get(), "/shared/../x", 0755));
    });
}

// Resolve, then swap the directory for a symlink pointing elsewhere: the mount must still land
// on the directory that was resolved.
TEST_F(NamespaceTest, MountOnFdIsNotRedirectedBySymlinkSwap) {
    std::string root = path("root");
    ASSERT_TRUE(sh("mkdir -p " + root + "/var " + path("victim")));
    in_namespace([&] {
        auto rfd = open_dir(root, O_PATH);
        ASSERT_TRUE(rfd);
        auto target = open_in_root(rfd->get(), "/var", O_PATH | O_DIRECTORY);
        ASSERT_TRUE(target);
        ASSERT_EQ(::rename((root + "/var").c_str(), (root + "/var.old").c_str()), 0);
        ASSERT_EQ(::symlink(path("victim").c_str(), (root + "/var").c_str()), 0);

        auto m = mount_on_fd("tmpfs", target->get(), "tmpfs", 0, "size=1M", "/var");
        ASSERT_TRUE(m) << m.error().message;
        EXPECT_TRUE(is_mount_point(root + "/var.old"));
        EXPECT_FALSE(is_mount_point(path("victim")));
    });
}

}  // namespace
}  // namespace imageinit::os
