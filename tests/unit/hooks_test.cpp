// Hook ordering, environment and the meaning of each outcome (boot/hooks.h).
#include "boot/hooks.h"

#include <gtest/gtest.h>

namespace imageinit::boot {
namespace {

using std::chrono::milliseconds;

HookContext ctx(bool degraded = false) {
    return HookContext{kStagePrePivot, "b", "/sysroot", "/run/imageinit/persist", degraded};
}

os::ProcessResult exited(int code) {
    os::ProcessResult r;
    r.exit_code = code;
    return r;
}

TEST(HookOrder, SortsBytewiseLikeTheCLocale) {
    EXPECT_EQ(
        order_hooks({"20-ssh", "10-machine-id", "9-early", "Zz", "a", "10-Machine"}),
        (std::vector<std::string>{"10-Machine", "10-machine-id", "20-ssh", "9-early", "Zz", "a"}));
}

TEST(HookOrder, SkipsHiddenFilesAndPackageLeftovers) {
    EXPECT_EQ(order_hooks({".hidden", "10-x~", "10-x.bak", "10-x.dpkg-old", "10-x.rpmnew", "10-x"}),
              (std::vector<std::string>{"10-x"}));
}

TEST(HookEnv, CarriesStageSlotRootAndPersist) {
    EXPECT_EQ(hook_environment(ctx()),
              (std::vector<std::string>{
                  "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "IMAGEINIT_STAGE=pre-pivot",
                  "IMAGEINIT_SLOT=b", "IMAGEINIT_ROOT=/sysroot",
                  "IMAGEINIT_PERSIST=/run/imageinit/persist", "IMAGEINIT_DEGRADED=0"}));
}

TEST(HookEnv, DegradedBootHasAnEmptyPersist) {
    auto env = hook_environment(ctx(true));
    EXPECT_NE(std::find(env.begin(), env.end(), "IMAGEINIT_PERSIST="), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "IMAGEINIT_DEGRADED=1"), env.end());
}

TEST(HookJudge, ExitZeroIsSilent) {
    std::vector<std::string> w;
    EXPECT_TRUE(judge_hook(ctx(), {"10-x", exited(0)}, milliseconds(1000), w));
    EXPECT_TRUE(w.empty());
}

TEST(HookJudge, NonZeroExitIsAWarningOnly) {
    std::vector<std::string> w;
    EXPECT_TRUE(judge_hook(ctx(), {"10-x", exited(1)}, milliseconds(1000), w));
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0], "hook pre-pivot/10-x (slot b) failed: exit status 1; the boot goes on");
}

TEST(HookJudge, TimeoutIsAWarningOnly) {
    os::ProcessResult r;
    r.timed_out = true;
    r.signal = 9;
    std::vector<std::string> w;
    EXPECT_TRUE(judge_hook(ctx(), {"10-x", r}, milliseconds(30000), w));
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("timed out after 30 s"), std::string::npos) << w[0];
}

TEST(HookJudge, ExitHundredRejectsTheSlot) {
    std::vector<std::string> w;
    auto r = judge_hook(ctx(), {"10-x", exited(kHookRejectsSlot)}, milliseconds(1000), w);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "hook pre-pivot/10-x (slot b) rejected the slot (exit status 100)");
    EXPECT_TRUE(w.empty());
}

TEST(HookJudge, AHookThatCannotRunIsAWarning) {
    std::vector<std::string> w;
    Result<os::ProcessResult> r = fail(ENOENT, "cannot execute '/x': No such file or directory");
    EXPECT_TRUE(judge_hook(ctx(), {"10-x", r}, milliseconds(1000), w));
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("cannot execute"), std::string::npos);
}

}  // namespace
}  // namespace imageinit::boot
