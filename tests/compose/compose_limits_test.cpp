// The limits compose puts on hostile layers: the entry policy (device nodes, set-id files,
// capabilities), the unpacked-size budget, bounded blob reads, and walks of very deep trees.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "compose/blob_reader.h"
#include "compose/entry_policy.h"
#include "compose/fs_util.h"
#include "compose/registry/blob_fetch.h"
#include "compose/tree_report.h"
#include "compose/unpack_limit.h"

namespace imageinit::compose {
namespace {

TEST(EntryPolicy, DecidesEveryKindOfEntry) {
    struct Case {
        const char* path;
        mode_t type;
        mode_t mode;
        bool caps;
        bool hardlink;
        bool target_dropped;
        EntryAction action;
        bool set_id;
        bool capabilities;
        const char* warning;
    };
    const Case kCases[] = {
        {"usr/bin/ls", S_IFREG, 0755, false, false, false, EntryAction::kKeep, false, false, ""},
        {"usr/bin/su", S_IFREG, 04755, false, false, false, EntryAction::kKeep, true, false, ""},
        {"usr/bin/wall", S_IFREG, 02755, false, false, false, EntryAction::kKeep, true, false, ""},
        {"usr/bin/ping", S_IFREG, 0755, true, false, false, EntryAction::kKeep, false, true, ""},
        // setgid on a directory only passes its group on: not a set-id file
        {"srv/shared", S_IFDIR, 02775, false, false, false, EntryAction::kKeep, false, false, ""},
        {"dev/null", S_IFCHR, 0666, false, false, false, EntryAction::kKeep, false, false, ""},
        {"dev/vda", S_IFBLK, 0660, false, false, false, EntryAction::kKeep, false, false, ""},
        {"dev/fifo", S_IFIFO, 0600, false, false, false, EntryAction::kKeep, false, false, ""},
        {"etc/disk", S_IFBLK, 0666, false, false, false, EntryAction::kDrop, false, false,
         "device node 'etc/disk' outside /dev dropped"},
        {"home/u/mem", S_IFCHR, 04666, false, false, false, EntryAction::kDrop, false, false,
         "device node 'home/u/mem' outside /dev dropped"},
        {"dev", S_IFCHR, 0666, false, false, false, EntryAction::kDrop, false, false,
         "device node 'dev' outside /dev dropped"},
        {"devices/kmem", S_IFCHR, 0666, false, false, false, EntryAction::kDrop, false, false,
         "device node 'devices/kmem' outside /dev dropped"},
        // a hard link takes the type of what it links to
        {"tmp/null", S_IFCHR, 0666, false, true, false, EntryAction::kDrop, false, false,
         "hard link to a device node 'tmp/null' outside /dev dropped"},
        {"dev/null2", S_IFCHR, 0666, false, true, false, EntryAction::kKeep, false, false, ""},
        {"dev/a", S_IFREG, 0644, false, true, true, EntryAction::kDrop, false, false,
         "hard link 'dev/a' to a dropped entry dropped"},
        {"usr/bin/sudo2", S_IFREG, 04711, false, true, false, EntryAction::kKeep, true, false, ""},
        {"etc/fifo", S_IFIFO, 0644, false, false, false, EntryAction::kKeep, false, false, ""},
    };
    for (const Case& c : kCases) {
        TarEntryInfo e;
        e.path = c.path;
        e.type = c.type;
        e.mode = c.mode;
        e.has_capabilities = c.caps;
        e.hardlink = c.hardlink;
        e.target_dropped = c.target_dropped;
        PolicyDecision d = apply_entry_policy(e);
        EXPECT_EQ(d.action, c.action) << c.path;
        EXPECT_EQ(d.set_id, c.set_id) << c.path;
        EXPECT_EQ(d.capabilities, c.capabilities) << c.path;
        EXPECT_EQ(d.warning, c.warning) << c.path;
    }
}

TEST(UnpackBudget, SparseGiantIsRefusedAtItsHeaderNamingLayerAndEntry) {
    UnpackBudget budget(100ull << 20);
    ASSERT_TRUE(budget.charge(10ull << 20, "sha256:aa", "usr/lib/big"));
    auto r = budget.charge(64ull << 30, "sha256:aa", "var/sparse");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "layer sha256:aa: entry 'var/sparse' (64.0 GiB) takes the unpacked size past the "
              "limit of 100.0 MiB (--max-unpacked-size)");
    EXPECT_EQ(budget.used(), (10ull << 20) + kEntryCost);  // the refused entry is not charged
}

TEST(UnpackBudget, ManyEmptyFilesAreBoundedByTheirEntryCost) {
    UnpackBudget budget(10 * kEntryCost);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(budget.charge(0, "l", "f"));
    EXPECT_FALSE(budget.charge(0, "l", "f"));
    // no wrap-around: size + the entry cost must not overflow into a small number
    EXPECT_FALSE(UnpackBudget(1000).charge(UINT64_MAX - 100, "l", "huge"));
}

TEST(UnpackBudget, SizesParseWithBinarySuffixes) {
    EXPECT_EQ(parse_size("0"), 0u);
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("64K"), 64u << 10);
    EXPECT_EQ(parse_size("100M"), 100ull << 20);
    EXPECT_EQ(parse_size("2G"), 2ull << 30);
    EXPECT_EQ(parse_size("1T"), 1ull << 40);
    for (const char* bad :
         {"", "G", "1.5G", "-1", "1g", "1GB", "99999999999999999999", "17179869184G"})
        EXPECT_FALSE(parse_size(bad)) << bad;
    EXPECT_EQ(format_size(100), "100 bytes");
    EXPECT_EQ(format_size(1536), "1.5 KiB");
}

TEST(UnpackBudget, DefaultLeavesAReserveOfTheFreeSpace) {
    EXPECT_EQ(default_unpack_limit(100ull << 30), (100ull << 30) - (5ull << 30));
    EXPECT_EQ(default_unpack_limit(100ull << 20), (100ull << 20) - (5ull << 20));
    EXPECT_EQ(default_unpack_limit(10ull << 20), (10ull << 20) - (4ull << 20));
    EXPECT_EQ(default_unpack_limit(3ull << 20), 0u);
}

class TempDir : public ::testing::Test {
  protected:
    void SetUp() override {
        // tmpfs when there is one: 60,000 mkdirs on a loaded disk take minutes.
        const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string tmpl = std::string(base) + "/compose-limits-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { EXPECT_TRUE(remove_tree(dir_)); }
    std::string dir_;
};

using BlobRead = TempDir;

Descriptor descriptor_for(const std::string& data, int64_t size) {
    Descriptor d;
    d.hex = sha256_hex(data);
    d.digest = "sha256:" + d.hex;
    d.size = size;
    return d;
}

UniqueFd file_with(const std::string& path, const std::string& data) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    EXPECT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::lseek(fd.get(), 0, SEEK_SET);
    return fd;
}

TEST_F(BlobRead, LongerBlobStopsAtTheFirstExtraByte) {
    std::string data(100, 'x');
    BlobReader r(file_with(dir_ + "/b", data), descriptor_for(data.substr(0, 10), 10));
    char buf[64];
    auto first = r.read(buf, sizeof buf);
    ASSERT_FALSE(first);  // 11 bytes asked for, 11 read: one too many
    EXPECT_NE(first.error().message.find("blob is longer than the descriptor's 10 bytes"),
              std::string::npos)
        << first.error().message;
    EXPECT_EQ(r.bytes(), 0u);  // nothing past the descriptor was passed on
}

TEST_F(BlobRead, ShorterBlobIsAnError) {
    std::string data(9, 'x');
    Descriptor d = descriptor_for(data, 10);
    BlobReader r(file_with(dir_ + "/b", data), d);
    auto done = r.finish();
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().message,
              "layer " + d.digest + ": blob is 9 bytes, the descriptor says 10");
}

TEST_F(BlobRead, ExactBlobVerifiesAndAWrongDigestIsNamed) {
    std::string data = "layer bytes";
    BlobReader good(file_with(dir_ + "/b", data), descriptor_for(data, 11));
    EXPECT_TRUE(good.finish());
    Descriptor other = descriptor_for("something else", 11);
    BlobReader bad(file_with(dir_ + "/c", data), other);
    auto r = bad.finish();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "layer " + other.digest +
                                     ": digest mismatch (blob is sha256:" + sha256_hex(data) + ")");
}

// A download is held to the same rule, with the same words, as a local blob (one verifier).
TEST_F(BlobRead, DownloadedBlobIsCheckedByTheSameRuleBeforeAByteIsWritten) {
    std::string data = "layer bytes";
    Descriptor d = descriptor_for(data, 11);
    std::string partial = dir_ + "/blob.partial";
    auto w = registry::VerifiedBlobWriter::open(partial, d);
    ASSERT_TRUE(w) << w.error().message;
    auto longer = w->append((data + "!").data(), 12);
    ASSERT_FALSE(longer);
    EXPECT_EQ(longer.error().message,
              "layer " + d.digest + ": blob is longer than the descriptor's 11 bytes");
    struct stat st;
    ASSERT_EQ(::stat(partial.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 0);  // refused before the write
    ASSERT_TRUE(w->append(data.data(), 5));
    auto shorter = w->finish();
    ASSERT_FALSE(shorter);
    EXPECT_EQ(shorter.error().message,
              "layer " + d.digest + ": blob is 5 bytes, the descriptor says 11");
    EXPECT_NE(::access(partial.c_str(), F_OK), 0);  // a failed partial is not resumed

    Descriptor other = descriptor_for("something else", 11);
    auto bad = registry::VerifiedBlobWriter::open(partial, other);
    ASSERT_TRUE(bad);
    ASSERT_TRUE(bad->append(data.data(), data.size()));
    auto r = bad->finish();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "layer " + other.digest +
                                     ": digest mismatch (blob is sha256:" + sha256_hex(data) + ")");
}

TEST_F(BlobRead, FifoInPlaceOfABlobIsRefusedWithoutBlocking) {
    Descriptor d = descriptor_for("x", 1);
    ASSERT_EQ(::mkdir((dir_ + "/blobs").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ + "/blobs/sha256").c_str(), 0755), 0);
    ASSERT_EQ(::mkfifo(blob_path(dir_, d).c_str(), 0644), 0);
    auto r = BlobReader::open(dir_, d);  // would block forever without O_NONBLOCK
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "blob " + d.digest + " is not a regular file (a fifo, device or directory)");
}

TEST_F(BlobRead, SizeDifferentFromTheDescriptorIsRefusedBeforeReading) {
    Descriptor d = descriptor_for("x", 10);
    ASSERT_EQ(::mkdir((dir_ + "/blobs").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ + "/blobs/sha256").c_str(), 0755), 0);
    file_with(blob_path(dir_, d), std::string(200, 'x'));
    auto r = BlobReader::open(dir_, d);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "blob " + d.digest + " is 200 bytes, the descriptor says 10");
}

// 60,000 nested directories: the recursive walks overflowed the stack (issue 19, item 5).
using DeepTree = TempDir;

TEST_F(DeepTree, SixtyThousandLevelsAreWalkedAndRemovedWithoutRecursion) {
    constexpr int kDepth = 60000;
    UniqueFd root = std::move(open_dir(dir_)).value();
    ASSERT_EQ(::mkdirat(root.get(), "t", 0755), 0);
    UniqueFd cur = std::move(open_dir_at(root.get(), "t")).value();
    for (int i = 0; i < kDepth; ++i) {
        ASSERT_EQ(::mkdirat(cur.get(), "d", 0755), 0);
        cur = std::move(open_dir_at(cur.get(), "d")).value();
    }
    UniqueFd file(::openat(cur.get(), "suid", O_CREAT | O_WRONLY | O_CLOEXEC, 0755));
    ASSERT_TRUE(file);
    ASSERT_EQ(::fchmod(file.get(), 04755), 0);
    file.reset();
    cur.reset();
    UniqueFd t = std::move(open_dir_at(root.get(), "t")).value();
    auto report = report_tree(t.get());
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->max_depth, static_cast<size_t>(kDepth + 1));
    EXPECT_EQ(report->entries, static_cast<uint64_t>(kDepth + 1));
    ASSERT_EQ(report->set_id.size(), 1u);
    EXPECT_TRUE(report->set_id[0].ends_with("d/d/suid"));
    auto removed = remove_tree(dir_ + "/t");
    ASSERT_TRUE(removed) << removed.error().message;
    struct stat st;
    EXPECT_NE(::stat((dir_ + "/t").c_str(), &st), 0);
}

TEST(TreeReport, LinesListEachCategory) {
    TreeReport r;
    r.set_id = {"bin/su", "bin/passwd"};
    r.capabilities = {"bin/ping"};
    std::vector<std::string> want = {"set-id files (2): bin/su, bin/passwd",
                                     "file capabilities (1): bin/ping"};
    EXPECT_EQ(report_lines(r), want);
}

}  // namespace
}  // namespace imageinit::compose
