// Factory reset on real devices (root, loop devices, private mount namespace): an ext4
// persistent partition recreated empty with its label and UUID through the whole boot step,
// and a LUKS2 header replaced so that only the new key on the state partition opens it
// (mapping it needs device-mapper, which the development machines lack: QEMU covers that).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/reset_persist_ops.h"
#include "namespace_fixture.h"
#include "os/blkid.h"
#include "os/files.h"
#include "os/loop.h"
#include "os/persist_format.h"

namespace imageinit::boot {
namespace {

using imageinit::testing::NamespaceTest;

constexpr const char* kUuid = "0b1c5d7e-3f1a-4b2c-9d8e-7f6a5b4c3d2e";

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

TEST_F(NamespaceTest, ResetRecreatesExt4EmptyWithItsLabelAndUuid) {
    const std::string img = path("persist.img"), tree = path("tree"), mnt = path("mnt");
    ASSERT_TRUE(sh("mkdir -p " + tree + "/shared/etc " + mnt + " " + path("state") +
                   " && echo precious > " + tree +
                   "/shared/etc/old-file && mkfs.ext4 -q -b 4096"
                   " -L PERSIST -U " +
                   kUuid + " -d " + tree + " " + img + " 16M"));
    in_namespace([&] {
        auto loop = os::attach_loop(img, false);
        ASSERT_TRUE(loop) << loop.error().message;
        auto state = os::open_dir(path("state"));
        ASSERT_TRUE(state);
        RealResetOps ops(state->get());
        ASSERT_TRUE(ops.write_request(core::encode_reset_request({})));

        ResetStepInput in;
        in.device = loop->path;
        auto r = reset_persist(ops, in);
        ASSERT_TRUE(r.reset) << r.warning;
        EXPECT_EQ(r.warning, "");
        EXPECT_FALSE(r.unusable);
        EXPECT_NE(r.journal.find("factory reset of PERSIST " + loop->path + " (ext4)"),
                  std::string::npos)
            << r.journal;
        EXPECT_FALSE(exists(path("state/imageinit/reset-request")));
        EXPECT_FALSE(exists(path("state/imageinit/persist.key")));  // ext4: no key

        auto id = os::probe_identity(loop->path);
        ASSERT_TRUE(id) << id.error().message;
        EXPECT_EQ(id->fstype, "ext4");
        EXPECT_EQ(id->label, "PERSIST");
        EXPECT_EQ(id->uuid, kUuid);
        ASSERT_EQ(::mount(loop->path.c_str(), mnt.c_str(), "ext4", 0, nullptr), 0);
        EXPECT_FALSE(exists(mnt + "/shared"));
        EXPECT_TRUE(exists(mnt + "/lost+found"));
        // A second boot finds no request and changes nothing.
        ASSERT_EQ(::umount(mnt.c_str()), 0);
        auto again = reset_persist(ops, in);
        EXPECT_FALSE(again.reset);
        EXPECT_EQ(again.warning, "");
    });
}

// The LUKS2 half that needs no device-mapper: the new key is written 0400 first, then the new
// header (same label and UUID) opens with it and no longer with the old key.
TEST_F(NamespaceTest, LuksFormatLeavesAHeaderOnlyTheNewKeyOpens) {
    if (!sh("command -v cryptsetup >/dev/null")) GTEST_SKIP() << "no cryptsetup";
    const std::string img = path("persist.img");
    ASSERT_TRUE(sh("mkdir -p " + path("state") + " && truncate -s 32M " + img +
                   " && head -c 64 /dev/urandom > " + path("old.key") +
                   " && cryptsetup luksFormat -q --type luks2 --label PERSIST --uuid " + kUuid +
                   " --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file " + path("old.key") +
                   " " + img));
    in_namespace([&] {
        auto loop = os::attach_loop(img, false);
        ASSERT_TRUE(loop) << loop.error().message;
        auto state = os::open_dir(path("state"));
        ASSERT_TRUE(state);
        RealResetOps ops(state->get());
        auto key = ops.new_key();
        ASSERT_TRUE(key);
        EXPECT_EQ(key->size(), core::kPersistKeyBytes);
        ASSERT_TRUE(ops.write_key(*key));
        struct stat st;
        ASSERT_EQ(::stat(path("state/imageinit/persist.key").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0400u);
        auto found = ops.identify(loop->path);
        ASSERT_TRUE(found);
        EXPECT_EQ(found->fstype, "crypto_LUKS");
        core::ResetTarget t{core::PersistKind::kLuks2, loop->path, found->label, found->uuid};
        auto formatted = ops.luks_format(loop->path, t, *key);
        ASSERT_TRUE(formatted) << formatted.error().message;

        EXPECT_TRUE(sh("cryptsetup open --test-passphrase --key-file " +
                       path("state/imageinit/persist.key") + " " + loop->path));
        EXPECT_FALSE(sh("cryptsetup open --test-passphrase --key-file " + path("old.key") + " " +
                        loop->path + " 2>/dev/null"));
        auto id = os::probe_identity(loop->path);
        ASSERT_TRUE(id);
        EXPECT_EQ(id->fstype, "crypto_LUKS");
        EXPECT_EQ(id->label, "PERSIST");
        EXPECT_EQ(id->uuid, kUuid);
    });
}

TEST_F(NamespaceTest, MkfsOfAMissingDeviceNamesItAndTheProgram) {
    in_namespace([&] {
        auto r = os::mkfs_ext4(path("no-such-device"), "PERSIST", "");
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("mke2fs '" + path("no-such-device") + "': exit status"),
                  std::string::npos)
            << r.error().message;
    });
}

}  // namespace
}  // namespace imageinit::boot
