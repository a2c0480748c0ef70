// Device specs through libblkid on loop-attached images, and the duplicate-label policy.
#include "os/blkid.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "namespace_fixture.h"
#include "os/loop.h"

namespace imageinit::os {
namespace {

using imageinit::testing::NamespaceTest;

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(NamespaceTest, FindDevicesSeesEveryLoopDeviceWithTheLabel) {
    // A label unique to this run, so devices of other tests or users never match.
    std::string label = "IIT" + std::to_string(::getpid() % 100000);
    char uuid_buf[40];
    std::snprintf(uuid_buf, sizeof(uuid_buf), "3b1f1c2e-7d4a-4a51-9e1f-%012d", ::getpid());
    std::string uuid = uuid_buf;
    ASSERT_TRUE(sh("mkfs.ext4 -q -L " + label + " -U " + uuid + " " + path("a.img") +
                   " 4M && mkfs.ext4 -q -L " + label + " " + path("b.img") + " 4M"));
    in_namespace([&] {
        auto a = attach_loop(path("a.img"));
        ASSERT_TRUE(a) << a.error().message;
        auto one = find_devices("LABEL=" + label);
        ASSERT_TRUE(one) << one.error().message;
        EXPECT_EQ(*one, std::vector<std::string>{a->path});

        auto by_uuid = find_devices("UUID=" + uuid);
        ASSERT_TRUE(by_uuid);
        EXPECT_EQ(*by_uuid, std::vector<std::string>{a->path});
        std::string upper = uuid;
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
        EXPECT_EQ(*find_devices("UUID=" + upper), std::vector<std::string>{a->path});

        auto b = attach_loop(path("b.img"));
        ASSERT_TRUE(b);
        auto both = find_devices("LABEL=\"" + label + "\"");
        ASSERT_TRUE(both);
        EXPECT_EQ(both->size(), 2u);
        EXPECT_TRUE(contains(*both, a->path) && contains(*both, b->path));

        auto none = find_devices("LABEL=" + label + "X");
        ASSERT_TRUE(none);
        EXPECT_TRUE(none->empty());

        auto disk = whole_disk_of(a->path);
        ASSERT_TRUE(disk) << disk.error().message;
        EXPECT_EQ(*disk, a->path);  // a loop device without partitions is its own disk
    });
}

// PARTLABEL/PARTUUID come from the GPT entry. This machine's kernel does not scan partitions on
// loop devices; partx(8) adds the partition nodes by hand.
TEST_F(NamespaceTest, FindDevicesByPartlabelAndWholeDiskOfThePartition) {
    if (!have_tool("sfdisk") || !have_tool("partx")) GTEST_SKIP() << "needs sfdisk and partx";
    std::string part = "iit-root-" + std::to_string(::getpid());
    std::string disk = path("disk.img");
    ASSERT_TRUE(sh("truncate -s 8M " + disk +
                   " && printf 'label: gpt\\nstart=2048, size=4096, "
                   "name=" +
                   part + "\\n' | sfdisk -q " + disk + " >/dev/null"));
    in_namespace([&] {
        auto loop = attach_loop(disk, /*read_only=*/false);
        ASSERT_TRUE(loop) << loop.error().message;
        if (!sh("partx -a " + loop->path + " 2>/dev/null")) GTEST_SKIP() << "partx -a failed";
        std::string node = loop->path + "p1";
        auto found = find_devices("PARTLABEL=" + part);
        ASSERT_TRUE(found) << found.error().message;
        EXPECT_EQ(*found, std::vector<std::string>{node});
        auto disk_of = whole_disk_of(node);
        ASSERT_TRUE(disk_of) << disk_of.error().message;
        EXPECT_EQ(*disk_of, loop->path);
        (void)sh("partx -d " + loop->path + " 2>/dev/null");
    });
}

// A whole disk whose partitions the kernel knows is not probed: its label (here an ext4 that
// spans the disk, with an MBR written into the ext4's unused first sector) is not a match,
// and it becomes one again once the partition nodes are gone.
TEST_F(NamespaceTest, FindDevicesSkipsAWholeDiskThatHasPartitions) {
    if (!have_tool("sfdisk") || !have_tool("partx")) GTEST_SKIP() << "needs sfdisk and partx";
    std::string label = "IIW" + std::to_string(::getpid() % 100000);
    std::string disk = path("whole.img");
    ASSERT_TRUE(sh("mkfs.ext4 -q -L " + label + " " + disk +
                   " 8M && printf 'label: dos\\n"
                   "start=2048, size=4096, type=83\\n' | sfdisk -q --wipe never " +
                   disk + " >/dev/null"));
    in_namespace([&] {
        auto loop = attach_loop(disk, /*read_only=*/true);
        ASSERT_TRUE(loop) << loop.error().message;
        auto before = find_devices("LABEL=" + label);
        ASSERT_TRUE(before) << before.error().message;
        EXPECT_EQ(*before, std::vector<std::string>{loop->path});
        if (!sh("partx -a " + loop->path + " 2>/dev/null")) GTEST_SKIP() << "partx -a failed";
        auto with_parts = find_devices("LABEL=" + label);
        (void)sh("partx -d " + loop->path + " 2>/dev/null");
        ASSERT_TRUE(with_parts) << with_parts.error().message;
        EXPECT_TRUE(with_parts->empty()) << with_parts->front();
    });
}

TEST(FindDevices, DevPathSpecMatchesItselfAndBadSpecsAreErrors) {
    EXPECT_EQ(*find_devices("/dev/null"), std::vector<std::string>{"/dev/null"});
    EXPECT_TRUE(find_devices("/dev/does-not-exist")->empty());
    auto bad = find_devices("NAME=x");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("'NAME=x'"), std::string::npos);
    EXPECT_FALSE(find_devices("LABEL="));
}

TEST(PickDevice, TheOneOnTheStateDiskWinsAndOthersAreNamed) {
    auto p = pick_device("LABEL=PERSIST", {"/dev/sda1", "/dev/vda3"}, {"/dev/sda", "/dev/vda"},
                         "/dev/vda");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->device, "/dev/vda3");
    EXPECT_EQ(p->ignored, std::vector<std::string>{"/dev/sda1"});
}

TEST(PickDevice, NoneOnTheStateDiskRefusesToGuess) {
    auto p = pick_device("LABEL=PERSIST", {"/dev/vdb1", "/dev/sda1"}, {"/dev/vdb", "/dev/sda"},
                         "/dev/vda");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().message,
              "'LABEL=PERSIST' matches /dev/vdb1, /dev/sda1 and none is on the state disk "
              "/dev/vda: refusing to guess");
}

TEST(PickDevice, SingleMatchWinsAnywhereAndNoMatchIsAnError) {
    auto p = pick_device("LABEL=PERSIST", {"/dev/sdb1"}, {"/dev/sdb"}, "/dev/vda");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->device, "/dev/sdb1");
    EXPECT_TRUE(p->ignored.empty());
    EXPECT_FALSE(pick_device("LABEL=PERSIST", {}, {}, "/dev/vda"));
    EXPECT_FALSE(
        pick_device("LABEL=X", {"/dev/vda1", "/dev/vda2"}, {"/dev/vda", "/dev/vda"}, "/dev/vda"));
}

}  // namespace
}  // namespace imageinit::os
