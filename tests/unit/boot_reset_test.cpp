// The reset-persist step in the boot sequence (contract §14): it runs inside find-persist, before
// the persistent partition is unlocked or mounted, only when a reset is asked for; a done reset
// is in the boot report and in the journal written with the attempt; a failed one leaves the
// partition unused (degraded) and the slot still boots.
#include <algorithm>

#include "boot/reset_persist.h"
#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

// Records the operations and what the fake kernel had mounted when make-fs ran.
struct RecordingOps final : ResetOps {
    FakePlatform& fake;
    std::optional<std::string> request;
    bool fail_make_fs = false;
    std::vector<std::string> ops;
    size_t log_at_make_fs = 0;
    explicit RecordingOps(FakePlatform& f) : fake(f) {}

    Result<std::optional<std::string>> read_request() override { return request; }
    Result<core::PersistFound> identify(const std::string& device) override {
        return core::PersistFound{device, "PARTUUID=p2", "ext4", "PERSIST", "u-2"};
    }
    Result<void> write_request(const std::string& content) override {
        ops.push_back("write-request");
        request = content;
        return ok();
    }
    Result<void> clear_request() override {
        ops.push_back("clear-request");
        request.reset();
        return ok();
    }
    Result<std::string> new_key() override { return std::string(64, 'k'); }
    Result<void> write_key(const std::string&) override { return ok(); }
    Result<void> luks_format(const std::string&, const core::ResetTarget&,
                             const std::string&) override {
        return ok();
    }
    Result<void> make_fs(const std::string& device, const core::ResetTarget&,
                         const std::string&) override {
        ops.push_back("make-fs " + device);
        log_at_make_fs = fake.log().size();
        if (fail_make_fs) return fail(EIO, "mke2fs '" + device + "': exit status 1");
        return ok();
    }
};

struct ResetBoot : FakeBoot {
    std::shared_ptr<RecordingOps> ops = std::make_shared<RecordingOps>(fake);
    ResetBoot() {
        fake.add_slot_file("a", bootable_image());
        set_record(make_record("a", {{"a", good()}}));
    }
    Result<Handover> run() {
        seq.emplace(fake.seams(), cmdline, steps, start);
        seq->set_reset_ops([this](const Dir&) -> std::unique_ptr<ResetOps> {
            struct Borrowed final : ResetOps {  // the test keeps the recording
                RecordingOps& o;
                explicit Borrowed(RecordingOps& r) : o(r) {}
                Result<std::optional<std::string>> read_request() override {
                    return o.read_request();
                }
                Result<core::PersistFound> identify(const std::string& d) override {
                    return o.identify(d);
                }
                Result<void> write_request(const std::string& c) override {
                    return o.write_request(c);
                }
                Result<void> clear_request() override { return o.clear_request(); }
                Result<std::string> new_key() override { return o.new_key(); }
                Result<void> write_key(const std::string& k) override { return o.write_key(k); }
                Result<void> luks_format(const std::string& d, const core::ResetTarget& t,
                                         const std::string& k) override {
                    return o.luks_format(d, t, k);
                }
                Result<void> make_fs(const std::string& d, const core::ResetTarget& t,
                                     const std::string& k) override {
                    return o.make_fs(d, t, k);
                }
            };
            return std::make_unique<Borrowed>(*ops);
        });
        return seq->run();
    }
    std::vector<std::string> step_names() const {
        std::vector<std::string> out;
        for (const auto& r : steps.records()) out.push_back(r.name);
        return out;
    }
};

size_t index_of(const std::vector<std::string>& v, const std::string& s) {
    return static_cast<size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}

TEST(BootReset, RequestedResetRunsBeforePersistIsMountedAndIsJournalled) {
    ResetBoot boot;
    boot.ops->request = core::encode_reset_request({});
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.ops->ops,
              (std::vector<std::string>{"write-request", "make-fs /dev/sda2", "clear-request"}));
    // Nothing of the persistent partition was mounted when it was recreated.
    std::vector<std::string> before(boot.fake.log().begin(),
                                    boot.fake.log().begin() + boot.ops->log_at_make_fs);
    EXPECT_EQ(std::count(before.begin(), before.end(), kPersistLine), 0);
    EXPECT_EQ(std::count(boot.fake.log().begin(), boot.fake.log().end(), kPersistLine), 1);
    auto names = boot.step_names();
    EXPECT_LT(index_of(names, "reset-persist"), index_of(names, "open-persist"));
    EXPECT_EQ(boot.report().persist_reset,
              "factory reset of PERSIST /dev/sda2 (ext4): requested by 'imageinit reset'");
    EXPECT_FALSE(boot.report().degraded);
    auto records = boot.records();
    ASSERT_EQ(records.size(), 1u);  // still one write: the journal line rides on the attempt's
    const auto& j = records[0].journal;
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0], (core::JournalEntry{8, "", "reset", "reset-persist",
                                        boot.report().persist_reset, 0}));
    EXPECT_EQ(j[1].outcome, "attempt");
}

TEST(BootReset, NothingAskedMeansNoStep) {
    ResetBoot boot;
    ASSERT_TRUE(boot.run());
    EXPECT_TRUE(boot.ops->ops.empty());
    EXPECT_EQ(index_of(boot.step_names(), "reset-persist"), boot.step_names().size());
    EXPECT_EQ(boot.report().persist_reset, "");
}

TEST(BootReset, CommandLineAsksForOneToo) {
    ResetBoot boot;
    boot.cfg.reset_persist = true;
    ASSERT_TRUE(boot.run());
    EXPECT_EQ(boot.ops->ops.size(), 3u);
    EXPECT_HAS(boot.report().persist_reset, "imageinit.reset=persist");
}

TEST(BootReset, FailedResetBootsTheSlotDegradedWithoutPersist) {
    ResetBoot boot;
    boot.ops->request = core::encode_reset_request({});
    boot.ops->fail_make_fs = true;
    ASSERT_TRUE(boot.run());
    EXPECT_TRUE(boot.report().degraded);
    EXPECT_EQ(std::count(boot.fake.log().begin(), boot.fake.log().end(), kPersistLine), 0);
    bool named = false;
    for (const auto& w : boot.report().warnings)
        named = named || w.find(
                             "factory reset of the persistent partition /dev/sda2 failed "
                             "(make-fs: mke2fs '/dev/sda2': exit status 1)") != std::string::npos;
    EXPECT_TRUE(named);
    ASSERT_TRUE(boot.ops->request);  // the next boot tries again
    EXPECT_TRUE(core::parse_reset_request(*boot.ops->request)->started);
    EXPECT_EQ(boot.report().slot, "a");
}

}  // namespace
}  // namespace imageinit::boot::testing
