// copy_tree, the seeding of a persistent directory: owners, modes, times, symlinks as links.
#include "os/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "namespace_fixture.h"

namespace imageinit::os {
namespace {

using imageinit::testing::NamespaceTest;

TEST_F(NamespaceTest, CopyTreePreservesModesOwnersAndSymlinks) {
    std::string src = path("src"), dst = path("dst");
    ASSERT_TRUE(sh("mkdir -p " + src + "/sub/deep " + dst + " && echo key > " + src +
                   "/sub/key && chmod 0600 " + src + "/sub/key && chown 123:456 " + src +
                   "/sub/key && chmod 4755 " + src + "/sub/deep && ln -s ../outside " + src +
                   "/sub/link && chown -h 7:8 " + src + "/sub/link && mkfifo " + src +
                   "/fifo && chmod 0700 " + src + " && touch -d 2001-02-03 " + src + "/sub/key" +
                   " && chmod 0500 " + src + "/sub"));
    in_namespace([&] {
        auto s = open_dir(src, O_PATH);
        auto d = open_dir(dst, O_PATH);
        ASSERT_TRUE(s && d);
        auto r = copy_tree(s->get(), d->get());
        ASSERT_TRUE(r) << r.error().message;

        struct stat st;
        ASSERT_EQ(::stat((dst + "/sub/key").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0600u);
        EXPECT_EQ(st.st_uid, 123u);
        EXPECT_EQ(st.st_gid, 456u);
        struct stat orig;
        ASSERT_EQ(::stat((src + "/sub/key").c_str(), &orig), 0);
        EXPECT_EQ(st.st_mtim.tv_sec, orig.st_mtim.tv_sec);
        auto content = read_file(dst + "/sub/key", 100);
        ASSERT_TRUE(content);
        EXPECT_EQ(*content, "key\n");

        ASSERT_EQ(::stat((dst + "/sub/deep").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 04755u);
        ASSERT_EQ(::stat((dst + "/sub").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0500u);
        ASSERT_EQ(::stat(dst.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0700u);

        ASSERT_EQ(::lstat((dst + "/sub/link").c_str(), &st), 0);
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        EXPECT_EQ(st.st_uid, 7u);
        char buf[64] = {};
        ASSERT_GT(::readlink((dst + "/sub/link").c_str(), buf, sizeof(buf) - 1), 0);
        EXPECT_STREQ(buf, "../outside");

        EXPECT_NE(::lstat((dst + "/fifo").c_str(), &st), 0);  // special files are skipped
    });
}

TEST_F(NamespaceTest, ReadFileRefusesMoreThanTheBound) {
    ASSERT_TRUE(sh("head -c 5000 /dev/zero > " + path("big")));
    auto r = read_file(path("big"), 4096);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EFBIG);
    EXPECT_TRUE(read_file(path("big"), 5000));
}

}  // namespace
}  // namespace imageinit::os
