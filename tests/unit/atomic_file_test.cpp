// The atomic record update: a modelled filesystem cut at every operation (with torn writes and
// every mix of lost data and lost directory changes) must always leave the old or the new record;
// then the real syscalls in a temp directory.
#include "os/atomic_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <map>
#include <sstream>

#include "base/unique_fd.h"
#include "core/boot_record.h"

namespace imageinit::os {
namespace {

using core::BootRecord;

// A directory whose changes are durable only after fsync_dir, holding files whose data is
// durable only after fsync. It "loses power" when its operation budget runs out: the operation
// that hits the limit does not happen, or (tear) a write happens only in part.
class CrashFs final : public FileOps {
  public:
    struct Inode {
        std::string durable;
        std::string data;
    };
    std::vector<Inode> inodes;
    std::map<std::string, size_t> names;          // what a reader sees now
    std::map<std::string, size_t> durable_names;  // what survives a power cut
    std::map<int, size_t> open_fds;
    int budget = INT_MAX;    // operations allowed before the power cut
    bool tear = false;       // the cut falls in the middle of a write
    bool fail_only = false;  // the operation at the limit fails with EIO instead of a cut
    bool crashed = false;

    void put(const std::string& name, const std::string& content) {
        inodes.push_back({content, content});
        names[name] = durable_names[name] = inodes.size() - 1;
    }

    // What a reader finds at NAME after the power cut: directory and data each either made it
    // to disk or did not.
    std::optional<std::string> after_crash(const std::string& name, bool dir_lost,
                                           bool data_lost) const {
        const auto& dir = dir_lost ? durable_names : names;
        auto it = dir.find(name);
        if (it == dir.end()) return std::nullopt;
        const Inode& ino = inodes[it->second];
        return data_lost ? ino.durable : ino.data;
    }

    Result<int> open_tmp(int, const std::string& name, unsigned) override {
        TRY(step());
        auto it = names.find(name);
        size_t ino = it != names.end() ? it->second : new_inode(name);
        inodes[ino].data.clear();  // O_TRUNC
        int fd = 100 + static_cast<int>(open_fds.size());
        open_fds[fd] = ino;
        return fd;
    }
    Result<void> write_all(int fd, const std::string& data) override {
        if (budget == 0 && tear && !crashed) {
            inodes[open_fds.at(fd)].data += data.substr(0, data.size() / 2);
            crashed = true;
        }
        TRY(step());
        inodes[open_fds.at(fd)].data += data;
        return ok();
    }
    Result<void> fsync(int fd) override {
        TRY(step());
        Inode& ino = inodes[open_fds.at(fd)];
        ino.durable = ino.data;
        return ok();
    }
    Result<void> close(int fd) override {
        open_fds.erase(fd);  // closing always releases the fd, as on Linux
        TRY(step());
        return ok();
    }
    Result<void> rename(int, const std::string& from, const std::string& to) override {
        TRY(step());
        names[to] = names.at(from);
        names.erase(from);
        return ok();
    }
    Result<void> fsync_dir(int) override {
        TRY(step());
        durable_names = names;
        return ok();
    }

  private:
    size_t new_inode(const std::string& name) {
        inodes.push_back({});
        return names[name] = inodes.size() - 1;
    }
    Result<void> step() {
        if (crashed) return fail(EIO, "power cut");
        if (budget == 0) {
            if (!fail_only) crashed = true;
            return fail(EIO, "injected failure");
        }
        --budget;
        return ok();
    }
};

BootRecord record_with_count(uint64_t n) {
    BootRecord r = core::default_record();
    r.boot_count = n;
    r.slots["b"] = {core::SlotHealth::kTrying, 3, ""};
    core::append_journal(r, {n, "b", "attempt", "", "", 0});
    return r;
}

constexpr int kOpsPerWrite = 6;  // open, write, fsync, close, rename, fsync_dir

TEST(AtomicFile, PowerCutAtEveryPointLeavesOldOrNewRecord) {
    const std::string old_bytes = core::encode_record(record_with_count(1));
    const std::string new_bytes = core::encode_record(record_with_count(2));
    int checked = 0;
    for (bool stale_tmp : {false, true}) {
        for (int k = 0; k <= kOpsPerWrite; ++k) {
            for (bool tear : {false, true}) {
                CrashFs fs;
                fs.put("state", old_bytes);
                if (stale_tmp) fs.put("state.tmp", "garbage from an earlier cut");
                fs.budget = k;
                fs.tear = tear;
                auto r = write_file_atomic(3, "state", new_bytes, fs);
                EXPECT_EQ(r.has_value(), k == kOpsPerWrite);
                for (bool dir_lost : {false, true}) {
                    for (bool data_lost : {false, true}) {
                        auto content = fs.after_crash("state", dir_lost, data_lost);
                        ASSERT_TRUE(content) << "k=" << k << ": 'state' vanished";
                        auto decoded = core::decode_record(*content);
                        ASSERT_TRUE(decoded)
                            << "k=" << k << " tear=" << tear << " dir_lost=" << dir_lost
                            << " data_lost=" << data_lost << ": " << decoded.error().message;
                        EXPECT_TRUE(*decoded == record_with_count(1) ||
                                    *decoded == record_with_count(2));
                        ++checked;
                    }
                }
                if (k == kOpsPerWrite) {
                    EXPECT_EQ(fs.after_crash("state", true, true), new_bytes);
                    EXPECT_TRUE(fs.open_fds.empty());
                }
            }
        }
    }
    EXPECT_EQ(checked, 2 * (kOpsPerWrite + 1) * 2 * 4);
}

// The model is strict enough to catch the classic mistake: renaming before the data is synced.
TEST(AtomicFile, CrashModelCatchesRenameBeforeFsync) {
    CrashFs fs;
    fs.put("state", core::encode_record(record_with_count(1)));
    int fd = *fs.open_tmp(3, "state.tmp", 0644);
    ASSERT_TRUE(fs.write_all(fd, core::encode_record(record_with_count(2))));
    ASSERT_TRUE(fs.close(fd));
    ASSERT_TRUE(fs.rename(3, "state.tmp", "state"));
    ASSERT_TRUE(fs.fsync_dir(3));
    auto content = fs.after_crash("state", false, true);  // directory made it, data did not
    ASSERT_TRUE(content);
    EXPECT_FALSE(core::decode_record(*content));
}

TEST(AtomicFile, FailedOperationLeavesOldOrNewAndNoOpenFd) {
    const std::string old_bytes = core::encode_record(record_with_count(1));
    const std::string new_bytes = core::encode_record(record_with_count(2));
    for (int k = 0; k < kOpsPerWrite; ++k) {
        CrashFs fs;
        fs.put("state", old_bytes);
        fs.budget = k;
        fs.fail_only = true;
        auto r = write_file_atomic(3, "state", new_bytes, fs);
        ASSERT_FALSE(r) << k;
        EXPECT_NE(r.error().message.find("replace 'state': "), std::string::npos);
        EXPECT_EQ(r.error().code, EIO);
        auto now = fs.after_crash("state", false, false);
        ASSERT_TRUE(now);
        EXPECT_TRUE(*now == old_bytes || *now == new_bytes) << k;
        EXPECT_TRUE(fs.open_fds.empty()) << k;
    }
}

class AtomicFileOnDisk : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/imageinit-atomic-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        path_ = tmpl;
        dir_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(dir_.valid());
    }
    void TearDown() override {
        for (const char* f : {"state", "state.tmp", "victim"}) ::unlink((path_ + "/" + f).c_str());
        ::rmdir(path_.c_str());
    }
    std::string read(const std::string& name) {
        std::ifstream in(path_ + "/" + name, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    bool exists(const std::string& name) {
        struct stat st;
        return ::lstat((path_ + "/" + name).c_str(), &st) == 0;
    }
    std::string path_;
    UniqueFd dir_;
};

TEST_F(AtomicFileOnDisk, WritesAndReplacesARealFile) {
    const std::string first = core::encode_record(record_with_count(1));
    const std::string second = core::encode_record(record_with_count(2));
    ASSERT_TRUE(write_file_atomic(dir_.get(), "state", first));
    EXPECT_EQ(read("state"), first);
    ASSERT_TRUE(write_file_atomic(dir_.get(), "state", second));
    EXPECT_EQ(read("state"), second);
    EXPECT_FALSE(exists("state.tmp"));
    auto decoded = core::decode_record(read("state"));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, record_with_count(2));
}

TEST_F(AtomicFileOnDisk, StaleLongerTempFileIsTruncated) {
    { std::ofstream(path_ + "/state.tmp") << std::string(20000, 'x'); }
    ASSERT_TRUE(write_file_atomic(dir_.get(), "state", "short\n"));
    EXPECT_EQ(read("state"), "short\n");
}

// Whatever is planted at the temporary name is replaced, never written through or waited on:
// the record stays writable (a try can still be counted) and nothing outside changes.
TEST_F(AtomicFileOnDisk, SymlinkAtTheTempNameIsReplacedNotFollowed) {
    ASSERT_EQ(::symlink("victim", (path_ + "/state.tmp").c_str()), 0);
    auto r = write_file_atomic(dir_.get(), "state", "new\n");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(exists("victim"));
    EXPECT_EQ(read("state"), "new\n");
}

// Issue 19: opening an existing fifo for writing waits for a reader forever. The alarm turns a
// hang into a failure (SIGALRM ends the test binary) instead of a stuck test run.
TEST_F(AtomicFileOnDisk, FifoAtTheTempNameIsReplacedNotWaitedOn) {
    ASSERT_EQ(::mkfifo((path_ + "/state.tmp").c_str(), 0600), 0);
    ::alarm(10);
    auto r = write_file_atomic(dir_.get(), "state", "new\n");
    ::alarm(0);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(read("state"), "new\n");
}

// A key file (imageinit/persist.key) is 0400 from its first byte, not made private afterwards.
TEST_F(AtomicFileOnDisk, ModeIsTheNewFilesModeFromTheStart) {
    ASSERT_TRUE(write_file_atomic(dir_.get(), "state", "secret\n", real_file_ops(), 0400));
    struct stat st;
    ASSERT_EQ(::stat((path_ + "/state").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0400u);
    EXPECT_EQ(read("state"), "secret\n");
}

TEST_F(AtomicFileOnDisk, RemoveFileDurableRemovesAndToleratesAMissingFile) {
    ASSERT_TRUE(write_file_atomic(dir_.get(), "state", "x\n"));
    ASSERT_TRUE(remove_file_durable(dir_.get(), "state"));
    EXPECT_FALSE(exists("state"));
    EXPECT_TRUE(remove_file_durable(dir_.get(), "state"));
}

TEST_F(AtomicFileOnDisk, NameWithADirectoryIsRefused) {
    auto r = write_file_atomic(dir_.get(), "imageinit/state", "x\n");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_FALSE(write_file_atomic(dir_.get(), "", "x\n"));
}

TEST_F(AtomicFileOnDisk, BadDirectoryFdReportsTheCall) {
    auto r = write_file_atomic(-1, "state", "x\n");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBADF);
    EXPECT_EQ(r.error().message.rfind("replace 'state': unlinkat 'state.tmp': ", 0), 0u)
        << r.error().message;
}

}  // namespace
}  // namespace imageinit::os
