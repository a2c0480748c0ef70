// Issue 19, part 1: special files and symlinks where imageinit reads or writes. A fifo where the
// record, a root hash, a spec or a kernel belongs must be an error naming it, never a hang (each
// case runs under alarm(): a hang kills the namespace child and fails the test); install must
// never follow a symlink planted on STATE or PERSIST.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "boot/boot_sequence.h"
#include "boot/integrity.h"
#include "boot/real_platform.h"
#include "boot/slot_kernel.h"
#include "boot/state_store.h"
#include "core/boot_record.h"
#include "core/kexec_decision.h"
#include "core/mount_spec.h"
#include "namespace_fixture.h"
#include "os/files.h"
#include "os/safe_open.h"

namespace imageinit::boot {
namespace {

using imageinit::testing::NamespaceTest;

// Long enough for any of these cases under a sanitizer, short against a hang.
constexpr unsigned kHangAlarmSec = 20;

void write(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// A unix socket bound at PATH (left behind when the fd closes).
bool make_socket(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    if (!fd || path.size() >= sizeof(addr.sun_path)) return false;
    path.copy(addr.sun_path, path.size());
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

// Runs CMD with a shell, returning its exit status and its output (stdout and stderr).
std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!f) return {-1, ""};
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    int status = ::pclose(f);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class HostileFiles : public NamespaceTest {};

// Every kind of file that is not a regular file, where one belongs, on a partition and in an
// image: refused with a message naming the path and what is there, and never waited on.
TEST_F(HostileFiles, OpenCheckedNamesEverySpecialFileAndNeverBlocks) {
    std::string root = path("root");
    ASSERT_TRUE(sh("mkdir -p " + root));
    in_namespace([&] {
        ::alarm(kHangAlarmSec);
        // nodev, as the state and persistent partitions are: a device node there cannot even
        // be opened (EACCES), and must still be named for what it is.
        ASSERT_EQ(::mount("tmpfs", root.c_str(), "tmpfs", MS_NODEV, "size=1M"), 0);
        ASSERT_TRUE(sh("mkdir -p " + root + "/d && mkfifo " + root + "/fifo && mknod " + root +
                       "/chr c 1 3 && ln -s d " + root + "/link && echo x > " + root + "/file"));
        ASSERT_TRUE(make_socket(root + "/sock"));
        UniqueFd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        struct Case {
            const char* name;
            os::Scope scope;
            const char* message;
        };
        const std::vector<Case> cases = {
            {"fifo", os::Scope::kPartition, "'fifo' is a fifo, not a regular file"},
            {"fifo", os::Scope::kImage, "'fifo' is a fifo, not a regular file"},
            {"sock", os::Scope::kImage, "'sock' is a socket, not a regular file"},
            {"chr", os::Scope::kImage, "'chr' is a character device, not a regular file"},
            {"chr", os::Scope::kPartition, "'chr' is a character device, not a regular file"},
            {"d", os::Scope::kPartition, "'d' is a directory, not a regular file"},
            {"link", os::Scope::kPartition,
             "'link' is or passes through a symlink: symlinks on this partition are never "
             "followed"},
        };
        for (const Case& c : cases) {
            auto r = os::read_checked(dir.get(), c.name, c.scope, 100);
            ASSERT_FALSE(r) << c.name;
            EXPECT_EQ(r.error().message, c.message) << c.name;
        }
        auto not_dir =
            os::open_checked(dir.get(), "fifo", os::Scope::kPartition, os::Want::kDir, O_PATH);
        ASSERT_FALSE(not_dir);
        EXPECT_EQ(not_dir.error().message, "'fifo' is a fifo, not a directory");
        // In an image a symlink is legitimate: followed, inside the root.
        EXPECT_TRUE(os::open_checked(dir.get(), "/link", os::Scope::kImage, os::Want::kDir));
        // Bounded: one byte over the limit is EFBIG.
        auto big = os::read_checked(dir.get(), "file", os::Scope::kPartition, 1);
        ASSERT_FALSE(big);
        EXPECT_EQ(big.error().code, EFBIG);
        EXPECT_EQ(os::read_checked(dir.get(), "file", os::Scope::kPartition, 2).value(), "x\n");
        auto missing = os::read_checked(dir.get(), "nothing", os::Scope::kPartition, 2);
        ASSERT_FALSE(missing);
        EXPECT_EQ(missing.error().code, ENOENT);
    });
}

// A fifo at imageinit/state is an unusable record: defaults and a warning naming the fifo, the
// boot goes on, and the next write (the counted try) replaces the fifo with a regular file.
TEST_F(HostileFiles, FifoRecordIsUnusableAndTheNextWriteReplacesIt) {
    std::string state = path("state");
    ASSERT_TRUE(sh("mkdir -p " + state + "/imageinit && mkfifo " + state + "/imageinit/state"));
    in_namespace([&] {
        ::alarm(kHangAlarmSec);
        RealRootFs p;
        Dir root = p.open_dir(state).value();
        LoadedRecord loaded = load_record(p, root);
        EXPECT_TRUE(loaded.fresh);
        EXPECT_EQ(loaded.record, core::default_record());
        EXPECT_NE(loaded.warning.find("'imageinit/state' is a fifo, not a regular file"),
                  std::string::npos)
            << loaded.warning;
        core::BootRecord next = core::default_record();
        next.boot_count = 1;
        ASSERT_TRUE(store_record(p, root, next));
        struct stat st;
        ASSERT_EQ(::lstat((state + "/imageinit/state").c_str(), &st), 0);
        EXPECT_TRUE(S_ISREG(st.st_mode));
        EXPECT_FALSE(load_record(p, root).fresh);
    });
}

// A fifo .roothash beside a regular .verity fails the verity step with an error naming it: the
// slot fails (same-boot fallback) instead of hanging. /run is a private tmpfs in the child.
TEST_F(HostileFiles, FifoRootHashFailsTheVerityStep) {
    in_namespace([&] {
        ::alarm(kHangAlarmSec);
        ASSERT_EQ(::mount("tmpfs", "/run", "tmpfs", 0, "size=1M"), 0);
        std::string slots = std::string(paths::kStateMount) + "/slots";
        ASSERT_TRUE(sh("mkdir -p " + slots + " && echo tree > " + slots + "/a.img.verity && " +
                       "mkfifo " + slots + "/a.img.roothash"));
        RealPlatform p(nullptr, nullptr);
        Dir state = p.files().open_dir(paths::kStateMount).value();
        core::BootConfig cfg;
        ASSERT_TRUE(has_verity_data(p.files(), cfg, "a"));
        auto r = open_slot_verity(p.files(), p.integrity(), cfg, "a", "/dev/null", state);
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("'slots/a.img.roothash' is a fifo, not a regular file"),
                  std::string::npos)
            << r.error().message;
    });
}

// In a slot image: a fifo spec fails read-spec, a fifo kernel fails the kexec step (both the
// header read and kexec_file_load's fds), each with an error naming the file.
TEST_F(HostileFiles, FifoSpecAndKernelInAnImageFailTheSlot) {
    std::string image = path("image");
    ASSERT_TRUE(sh("mkdir -p " + image + "/etc/imageinit " + image + "/boot && mkfifo " + image +
                   "/etc/imageinit/fstab " + image + "/boot/vmlinuz " + image +
                   "/boot/initrd.img"));
    in_namespace([&] {
        ::alarm(kHangAlarmSec);
        RealPlatform p(nullptr, nullptr);
        Dir root = p.files().open_dir(image).value();
        auto spec = p.files().read_in_root(root, std::string(core::kSpecPathInImage), 1 << 20);
        ASSERT_FALSE(spec);
        EXPECT_EQ(spec.error().message, "'/etc/imageinit/fstab' is a fifo, not a regular file");
        auto kexec = load_slot_kernel(p.kexec(), p.files(), root, "a", core::KernelCmdline{});
        ASSERT_FALSE(kexec);
        EXPECT_EQ(kexec.error().message, "'/boot/vmlinuz' is a fifo, not a regular file");
        auto load = p.kexec().kexec_load(root, std::string(core::kSlotKernelPath),
                                         std::string(core::kSlotInitrdPath), "");
        ASSERT_FALSE(load);
        EXPECT_EQ(load.error().message, "'/boot/vmlinuz' is a fifo, not a regular file");
    });
}

// The hooks directory is listed without blocking or following a fifo in its place.
TEST_F(HostileFiles, FifoHooksDirectoryIsAnErrorNotAHang) {
    std::string hooks = path("hooks");
    ASSERT_TRUE(sh("mkfifo " + hooks));
    in_namespace([&] {
        ::alarm(kHangAlarmSec);
        RealProcesses p;
        auto listed = p.list_executables(hooks);
        ASSERT_FALSE(listed);
        EXPECT_NE(listed.error().message.find("is a fifo, not a directory"), std::string::npos)
            << listed.error().message;
    });
}

// `imageinit install` against planted symlinks (needs the binary: IMAGEINIT, set by meson, and
// mksquashfs for the image). STATE/slots -> elsewhere and PERSIST/slots/b -> elsewhere are
// refused with a clear error and nothing outside is touched; without symlinks the slot-scoped
// directory is replaced by the running slot's copy.
class HostileInstall : public NamespaceTest {
  protected:
    void SetUp() override {
        NamespaceTest::SetUp();
        if (IsSkipped()) return;
        const char* bin = std::getenv("IMAGEINIT");
        if (!bin || ::access(bin, X_OK) != 0 || !have_tool("mksquashfs"))
            GTEST_SKIP() << "needs the imageinit binary (IMAGEINIT) and mksquashfs";
        bin_ = bin;
        state_ = path("state");
        persist_ = path("persist");
        outside_ = path("outside");
        image_ = path("new.img");
        std::string tree = path("tree");
        ASSERT_TRUE(sh("mkdir -p " + tree + "/sbin " + tree + "/dev " + tree + "/proc " + tree +
                       "/sys " + tree + "/run " + tree + "/etc/ssh " + tree +
                       "/etc/imageinit && printf '#!/bin/sh\\n' > " + tree +
                       "/sbin/init && chmod 755 " + tree + "/sbin/init"));
        write(tree + "/etc/imageinit/fstab",
              "persist:/etc/ssh /etc/ssh none bind,x-imageinit.scope=slot 0 0\n");
        ASSERT_TRUE(sh("mksquashfs " + tree + " " + image_ +
                       " -quiet -no-progress -all-root "
                       ">/dev/null"));
        ASSERT_TRUE(sh("mkdir -p " + state_ + "/slots " + persist_ + "/slots/a/etc/ssh " +
                       outside_ + "/etc/ssh && echo running-key > " + persist_ +
                       "/slots/a/etc/ssh/key && echo victim > " + outside_ +
                       "/etc/ssh/victim && echo keep > " + outside_ + "/b.img"));
    }

    std::pair<int, std::string> install() {
        return run(bin_ + " install " + image_ + " --state-dir " + state_ + " --persist-dir " +
                   persist_ + " --slot a");
    }

    std::string bin_, state_, persist_, outside_, image_;
};

// `status` reads each slot's .source sidecar on STATE: a fifo there is ignored, not waited on.
TEST_F(HostileInstall, StatusIgnoresAFifoSlotSource) {
    ASSERT_TRUE(
        sh("mkfifo " + state_ + "/slots/a.img.source && echo x > " + state_ + "/slots/a.img"));
    in_namespace([&] {
        ::alarm(kHangAlarmSec * 2);
        // timeout(1): a hang fails the case without leaving the command behind.
        auto [rc, out] = run("timeout 20 " + bin_ + " status --state-dir " + state_ + " --slot a");
        EXPECT_EQ(rc, 0) << out;
    });
}

TEST_F(HostileInstall, SymlinkedSlotsDirectoryOnStateIsRefused) {
    ASSERT_TRUE(sh("rmdir " + state_ + "/slots && ln -s " + outside_ + " " + state_ + "/slots"));
    in_namespace([&] {
        ::alarm(kHangAlarmSec * 3);
        auto [rc, out] = install();
        EXPECT_NE(rc, 0) << out;
        EXPECT_NE(out.find("'slots' is a symlink, not a directory"), std::string::npos) << out;
        EXPECT_TRUE(slurp(outside_ + "/b.img") == "keep\n") << "the image was written outside";
        EXPECT_FALSE(std::filesystem::exists(outside_ + "/b.img.new"));
        // Refused before anything was written: the record still has no entry for the target.
        EXPECT_FALSE(std::filesystem::exists(state_ + "/imageinit/state"));
    });
}

TEST_F(HostileInstall, SymlinkedSlotDirectoryOnPersistIsRefusedAndNothingOutsideIsDeleted) {
    ASSERT_TRUE(sh("ln -s " + outside_ + " " + persist_ + "/slots/b"));
    in_namespace([&] {
        ::alarm(kHangAlarmSec * 3);
        auto [rc, out] = install();
        EXPECT_NE(rc, 0) << out;
        EXPECT_NE(out.find("'slots/b/etc' is or passes through a symlink"), std::string::npos)
            << out;
        EXPECT_EQ(slurp(outside_ + "/etc/ssh/victim"), "victim\n");
        EXPECT_FALSE(std::filesystem::exists(outside_ + "/etc/ssh/key"));
    });
}

TEST_F(HostileInstall, SlotScopedDirectoryIsReplacedByTheRunningSlotsCopy) {
    ASSERT_TRUE(sh("mkdir -p " + persist_ + "/slots/b/etc/ssh/old && echo stale > " + persist_ +
                   "/slots/b/etc/ssh/old/stale && ln -s " + outside_ + " " + persist_ +
                   "/slots/b/etc/ssh/link"));
    in_namespace([&] {
        ::alarm(kHangAlarmSec * 3);
        auto [rc, out] = install();
        EXPECT_EQ(rc, 0) << out;
        EXPECT_EQ(slurp(persist_ + "/slots/b/etc/ssh/key"), "running-key\n");
        EXPECT_FALSE(std::filesystem::exists(persist_ + "/slots/b/etc/ssh/old"));
        EXPECT_FALSE(std::filesystem::is_symlink(persist_ + "/slots/b/etc/ssh/link"));
        EXPECT_EQ(slurp(outside_ + "/etc/ssh/victim"), "victim\n");
        EXPECT_TRUE(slurp(state_ + "/slots/b.img") == slurp(image_)) << "b.img differs";
    });
}

}  // namespace
}  // namespace imageinit::boot
