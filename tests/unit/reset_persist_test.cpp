// Factory reset, the executor and the boot step (boot/reset_persist.h) against a modelled state
// partition and device cut at every operation (as os/atomic_file's crash-point tests): after any
// power cut the next boot must end in a complete, empty partition of the same kind, label and
// UUID whose key is on the state partition, and the request must never be gone before that.
#include "boot/reset_persist.h"

#include <gtest/gtest.h>

#include <climits>

#include "core/persist_reset.h"

namespace imageinit {
namespace {

using core::PersistFound;
using core::PersistKind;
using core::ResetDecision;
using core::ResetInput;
using core::ResetOp;
using core::ResetRequest;
using core::ResetTarget;

// ---- the executor, cut at every operation

// The state partition (its files are replaced atomically: os/atomic_file's tests cover that
// the old or the new content survives) and the persistent partition, whose formatting can tear.
class CrashWorld final : public boot::ResetOps {
  public:
    enum class Fs { kOldData, kEmpty, kTorn };
    struct Disk {
        std::string kind;  // "ext4", "luks2", "" (a probe recognises nothing)
        std::string header_key, label, uuid;
        Fs fs = Fs::kOldData;
    };
    std::optional<std::string> request, key;
    Disk disk;
    int budget = INT_MAX;
    bool tear = false;
    bool crashed = false;
    int keys_made = 0;
    std::vector<std::string> log;

    Result<std::optional<std::string>> read_request() override { return request; }
    Result<PersistFound> identify(const std::string& device) override {
        auto p = probe();
        if (!p) return PersistFound{device, "PARTUUID=p3", "", "", ""};
        return *p;
    }
    Result<void> write_request(const std::string& content) override {
        TRY(step("write-request"));
        request = content;
        return ok();
    }
    Result<void> clear_request() override {
        TRY(step("clear-request"));
        request.reset();
        return ok();
    }
    Result<std::string> new_key() override {
        TRY(step("new-key"));
        return "key-" + std::to_string(++keys_made);
    }
    Result<void> write_key(const std::string& k) override {
        TRY(step("write-key"));
        key = k;
        return ok();
    }
    Result<void> luks_format(const std::string&, const ResetTarget& t,
                             const std::string& k) override {
        if (torn()) {
            disk = Disk{"", "", "", "", Fs::kTorn};  // header half written: nothing recognised
            return fail(EIO, "power cut");
        }
        TRY(step("luks-format"));
        disk = Disk{"luks2", k, t.label, t.uuid, Fs::kTorn};  // new volume key: old data gone
        return ok();
    }
    Result<void> make_fs(const std::string&, const ResetTarget& t, const std::string& k) override {
        if (t.kind == PersistKind::kLuks2 && (disk.kind != "luks2" || disk.header_key != k))
            return fail(EPERM, "the key does not open the container");
        if (torn()) {
            if (t.kind == PersistKind::kExt4)
                disk = Disk{"", "", "", "", Fs::kTorn};
            else
                disk.fs = Fs::kTorn;
            return fail(EIO, "power cut");
        }
        TRY(step("make-fs"));
        if (t.kind == PersistKind::kExt4)
            disk = Disk{"ext4", "", t.label, t.uuid, Fs::kEmpty};
        else
            disk.fs = Fs::kEmpty;
        return ok();
    }

    // What the next boot's find-persist sees (by LABEL=: an unrecognised partition is not found).
    std::optional<PersistFound> probe() const {
        if (disk.kind.empty()) return std::nullopt;
        return PersistFound{"/dev/vda3", "PARTUUID=p3",
                            disk.kind == "luks2" ? "crypto_LUKS" : "ext4", disk.label, disk.uuid};
    }
    // The next boot: the request file as written, the partition as probed, no budget.
    ResetDecision next_boot(bool cmdline) {
        crashed = false;
        budget = INT_MAX;
        ResetInput in;
        if (request) {
            auto parsed = core::parse_reset_request(*request);
            EXPECT_TRUE(parsed) << parsed.error().message;
            if (parsed) in.request = *parsed;
        }
        in.cmdline = cmdline;
        in.found = probe();
        return core::decide_reset(in);
    }

  private:
    bool torn() {
        if (crashed || budget != 0 || !tear) return false;
        crashed = true;
        return true;
    }
    Result<void> step(const char* what) {
        if (crashed) return fail(EIO, "power cut");
        if (budget == 0) {
            crashed = true;
            return fail(EIO, std::string("power cut before ") + what);
        }
        --budget;
        log.push_back(what);
        return ok();
    }
};

// Empty if the partition is a finished reset of ORIGINAL, else what is wrong.
std::string check_reset_done(const CrashWorld& w, const CrashWorld::Disk& original) {
    if (w.request) return "the request is still there";
    if (w.disk.kind != original.kind) return "kind '" + w.disk.kind + "'";
    if (w.disk.label != original.label || w.disk.uuid != original.uuid) return "label/uuid lost";
    if (w.disk.fs != CrashWorld::Fs::kEmpty) return "the filesystem is not a new empty one";
    if (original.kind == "luks2" && (!w.key || w.disk.header_key != *w.key))
        return "the key on the state partition does not open the container";
    return "";
}

CrashWorld world_with(const std::string& kind, bool request) {
    CrashWorld w;
    w.disk = {kind, kind == "luks2" ? "old-key" : "", "PERSIST", "u-1", CrashWorld::Fs::kOldData};
    if (kind == "luks2") w.key = "old-key";
    if (request) w.request = core::encode_reset_request(ResetRequest{});
    return w;
}

// Runs the boot's reset with a power cut after K operations (and a tear of the operation at
// K), then boots again (twice: a second cut-free boot must change nothing).
void cut_and_reboot(const std::string& kind, bool by_cmdline, int k, bool tear,
                    const std::vector<ResetOp>* order = nullptr) {
    SCOPED_TRACE(kind + (by_cmdline ? " cmdline" : " request") + " cut after " + std::to_string(k) +
                 (tear ? " torn" : ""));
    CrashWorld w = world_with(kind, !by_cmdline);
    const CrashWorld::Disk original = w.disk;
    ResetDecision d = w.next_boot(by_cmdline);
    ASSERT_TRUE(d.reset);
    if (order) d.ops = *order;
    w.budget = k;
    w.tear = tear;
    auto r = boot::execute_reset(d, "/dev/vda3", w);
    if (r) {
        EXPECT_EQ(check_reset_done(w, original), "");
        return;
    }
    // Never: no request while the old partition is already destroyed (unfinished, or its key
    // lost). Only a cut before anything happened leaves no request (a command-line reset).
    if (!w.request && !(by_cmdline && w.disk.fs == CrashWorld::Fs::kOldData))
        ADD_FAILURE() << "request cleared after a cut: " << check_reset_done(w, original);
    // The next boot (the one-time command line is gone then, the request is not).
    ResetDecision again = w.next_boot(false);
    if (!again.reset) {
        // Only before anything was destroyed: the cut came before mark-started.
        EXPECT_EQ(w.disk.fs, CrashWorld::Fs::kOldData);
        EXPECT_TRUE(by_cmdline || w.request);
        if (w.request) ADD_FAILURE() << "request kept but no reset: " << again.refusal;
        return;
    }
    auto done = boot::execute_reset(again, "/dev/vda3", w);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(check_reset_done(w, original), "");
    EXPECT_FALSE(w.next_boot(false).reset);
}

TEST(ResetExecute, PowerCutAtEveryPointEndsInACompleteReset) {
    int cases = 0;
    for (const std::string kind : {"ext4", "luks2"}) {
        const int ops = kind == "ext4" ? 3 : 6;  // luks2: new-key counts as one
        for (bool by_cmdline : {false, true})
            for (int k = 0; k <= ops; ++k)
                for (bool tear : {false, true}) {
                    cut_and_reboot(kind, by_cmdline, k, tear);
                    ++cases;
                }
    }
    EXPECT_EQ(cases, 2 * (4 + 7) * 2);
}

// The model catches the mistake the order exists to prevent: clearing the request before the
// filesystem is made leaves a torn partition that no boot will ever reset.
TEST(ResetExecute, CrashModelCatchesClearingTheRequestTooEarly) {
    CrashWorld w = world_with("ext4", true);
    ResetDecision d = w.next_boot(false);
    d.ops = {ResetOp::kMarkStarted, ResetOp::kClearRequest, ResetOp::kMakeFs};
    w.budget = 2;
    w.tear = true;
    ASSERT_FALSE(boot::execute_reset(d, "/dev/vda3", w));
    EXPECT_FALSE(w.request);
    EXPECT_FALSE(w.next_boot(false).reset);
    EXPECT_NE(check_reset_done(w, world_with("ext4", true).disk), "");
}

// ...and formatting before the key is durable: the header's key would be lost in the cut.
TEST(ResetExecute, LuksFormatWithoutAWrittenKeyIsRefused) {
    CrashWorld w = world_with("luks2", true);
    ResetDecision d = w.next_boot(false);
    d.ops = {ResetOp::kMarkStarted, ResetOp::kLuksFormat, ResetOp::kWriteKey};
    auto r = boot::execute_reset(d, "/dev/vda3", w);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "luks-format: no key was written before it");
    EXPECT_EQ(w.disk.header_key, "old-key");
}

TEST(ResetExecute, ErrorsNameTheOperation) {
    CrashWorld w = world_with("luks2", true);
    ResetDecision d = w.next_boot(false);
    w.budget = 3;  // mark-started, new-key, write-key: luks-format is cut
    auto r = boot::execute_reset(d, "/dev/vda3", w);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "luks-format: power cut before luks-format");
    EXPECT_EQ(w.log, (std::vector<std::string>{"write-request", "new-key", "write-key"}));
}

TEST(ResetExecute, EveryResumeMakesANewKey) {
    CrashWorld w = world_with("luks2", true);
    ResetDecision d = w.next_boot(false);
    w.budget = 4;  // cut before make-fs
    ASSERT_FALSE(boot::execute_reset(d, "/dev/vda3", w));
    std::string first = *w.key;
    ASSERT_TRUE(boot::execute_reset(w.next_boot(false), "/dev/vda3", w));
    EXPECT_NE(*w.key, first);
    EXPECT_NE(*w.key, "old-key");
    EXPECT_EQ(w.disk.header_key, *w.key);
}

// ---- the boot step around the executor

boot::ResetStepInput step_input(std::optional<std::string> device, bool cmdline = false,
                                std::vector<std::string> by_partuuid = {"/dev/vda3"}) {
    boot::ResetStepInput in;
    in.cmdline = cmdline;
    in.device = std::move(device);
    in.find_devices = [by_partuuid](const std::string& spec) -> Result<std::vector<std::string>> {
        if (spec == "PARTUUID=p3") return by_partuuid;
        return std::vector<std::string>{};
    };
    return in;
}

TEST(ResetStep, NoRequestLeavesEverythingAlone) {
    CrashWorld w = world_with("ext4", false);
    auto r = boot::reset_persist(w, step_input("/dev/vda3"));
    EXPECT_FALSE(r.reset);
    EXPECT_FALSE(r.unusable);
    EXPECT_EQ(r.device, "/dev/vda3");
    EXPECT_EQ(r.warning, "");
    EXPECT_TRUE(w.log.empty());
}

TEST(ResetStep, RequestResetsAndJournalsIt) {
    CrashWorld w = world_with("luks2", true);
    auto r = boot::reset_persist(w, step_input("/dev/vda3"));
    ASSERT_TRUE(r.reset) << r.warning;
    EXPECT_EQ(r.journal,
              "factory reset of PERSIST /dev/vda3 (luks2): requested by 'imageinit reset'");
    EXPECT_EQ(check_reset_done(w, world_with("luks2", true).disk), "");
}

// A cut tore the LUKS2 header: LABEL=PERSIST finds nothing, the recorded PARTUUID does.
TEST(ResetStep, ResumesThePartitionTheRequestNamesWhenItsLabelIsGone) {
    CrashWorld w = world_with("luks2", true);
    ResetDecision d = w.next_boot(false);
    w.budget = 3;
    w.tear = true;
    ASSERT_FALSE(boot::execute_reset(d, "/dev/vda3", w));
    ASSERT_EQ(w.disk.kind, "");
    w.crashed = false;
    w.budget = INT_MAX;
    auto r = boot::reset_persist(w, step_input(std::nullopt));
    ASSERT_TRUE(r.reset) << r.warning;
    EXPECT_EQ(r.device, "/dev/vda3");
    EXPECT_NE(r.journal.find("resuming a reset a power cut interrupted"), std::string::npos);
    EXPECT_EQ(check_reset_done(w, world_with("luks2", true).disk), "");
}

TEST(ResetStep, ResumeWithoutItsPartitionLeavesPersistUnused) {
    CrashWorld w = world_with("ext4", false);
    w.request = core::encode_reset_request(
        ResetRequest{ResetTarget{PersistKind::kExt4, "PARTUUID=p3", "PERSIST", "u-1"}});
    auto r = boot::reset_persist(w, step_input(std::nullopt, false, {}));
    EXPECT_FALSE(r.reset);
    EXPECT_TRUE(r.unusable);
    EXPECT_NE(r.warning.find("'PARTUUID=p3' matches 0 devices"), std::string::npos) << r.warning;
    EXPECT_TRUE(w.request);
}

TEST(ResetStep, FailedResetLeavesPersistUnusedAndTheRequestInPlace) {
    CrashWorld w = world_with("ext4", true);
    w.budget = 1;  // mark-started only: make-fs fails
    auto r = boot::reset_persist(w, step_input("/dev/vda3"));
    EXPECT_FALSE(r.reset);
    EXPECT_TRUE(r.unusable);
    EXPECT_NE(r.warning.find("factory reset of the persistent partition /dev/vda3 failed "
                             "(make-fs: power cut before make-fs)"),
              std::string::npos)
        << r.warning;
    ASSERT_TRUE(w.request);
    EXPECT_TRUE(core::parse_reset_request(*w.request)->started);
}

TEST(ResetStep, RefusedResetKeepsThePartitionInUse) {
    CrashWorld w = world_with("", true);  // nothing recognisable, no request begun
    auto r = boot::reset_persist(w, step_input("/dev/vda3"));
    EXPECT_FALSE(r.reset);
    EXPECT_FALSE(r.unusable);
    EXPECT_NE(r.warning.find("not ext4 or LUKS2 (the request stays)"), std::string::npos)
        << r.warning;
    EXPECT_TRUE(w.request);
}

TEST(ResetStep, MalformedRequestIsStillAReset) {
    CrashWorld w = world_with("ext4", false);
    w.request = "reset please\n";
    auto r = boot::reset_persist(w, step_input("/dev/vda3"));
    EXPECT_TRUE(r.reset);
    EXPECT_NE(r.warning.find("treated as a new request"), std::string::npos);
    EXPECT_FALSE(w.request);
}

}  // namespace
}  // namespace imageinit
