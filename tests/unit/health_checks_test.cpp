// Health checks that gate mark-good (boot/health_checks.h): what each outcome means, the order
// and environment they run in, and the report kept on the state partition.
#include "boot/health_checks.h"

#include <gtest/gtest.h>

#include "fake_platform.h"

namespace imageinit::boot {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kLimit{60000};

os::ProcessResult exited(int code, std::string output = "") {
    os::ProcessResult r;
    r.exit_code = code;
    r.output = std::move(output);
    return r;
}

os::ProcessResult timed_out(std::string output = "") {
    os::ProcessResult r;
    r.timed_out = true;
    r.signal = 9;
    r.output = std::move(output);
    return r;
}

CheckOutcome required(std::string name, Result<os::ProcessResult> run) {
    return {CheckKind::kRequired, std::move(name), std::move(run)};
}

CheckOutcome wanted(std::string name, Result<os::ProcessResult> run) {
    return {CheckKind::kWanted, std::move(name), std::move(run)};
}

TEST(HealthJudge, NoChecksIsHealthy) {
    auto v = judge_health({}, kLimit);
    EXPECT_TRUE(v.healthy());
    EXPECT_EQ(v.ran, 0);
}

TEST(HealthJudge, PassingChecksAreHealthy) {
    auto v =
        judge_health({required("10-a", exited(0, "fine\n")), wanted("20-b", exited(0))}, kLimit);
    EXPECT_TRUE(v.healthy());
    EXPECT_EQ(v.ran, 2);
    EXPECT_TRUE(v.failed_required.empty());
    EXPECT_TRUE(v.failed_wanted.empty());
}

TEST(HealthJudge, FailingRequiredCheckIsUnhealthyAndNamesItWithItsLastLine) {
    auto v =
        judge_health({required("10-app", exited(1, "probing\napp does not answer on :8080\n\n")),
                      required("20-ok", exited(0))},
                     kLimit);
    EXPECT_FALSE(v.healthy());
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_EQ(v.failed_required[0], "required/10-app: exit status 1: app does not answer on :8080");
}

TEST(HealthJudge, FailingWantedCheckIsOnlyAWarning) {
    auto v = judge_health({wanted("50-disk", exited(2))}, kLimit);
    EXPECT_TRUE(v.healthy());
    ASSERT_EQ(v.failed_wanted.size(), 1u);
    EXPECT_EQ(v.failed_wanted[0], "wanted/50-disk: exit status 2");
}

TEST(HealthJudge, TimedOutRequiredCheckFails) {
    auto v = judge_health({required("10-slow", timed_out("waiting\n"))}, milliseconds(30000));
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_EQ(v.failed_required[0], "required/10-slow: timed out after 30 s: waiting");
}

TEST(HealthJudge, RequiredCheckKilledByASignalFails) {
    os::ProcessResult r;
    r.signal = 11;
    auto v = judge_health({required("10-crash", r)}, kLimit);
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_EQ(v.failed_required[0], "required/10-crash: killed by signal 11");
}

TEST(HealthJudge, RequiredCheckThatCannotRunFails) {
    Result<os::ProcessResult> r = fail(EACCES, "cannot execute '/x': Permission denied");
    auto v = judge_health({required("10-x", r)}, kLimit);
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_EQ(v.failed_required[0], "required/10-x: cannot execute '/x': Permission denied");
}

TEST(HealthJudge, ControlCharactersInOutputCannotForgeLogLines) {
    auto v =
        judge_health({required("10-x", exited(1, "bad\x1b[31m\rimageinit: all good"))}, kLimit);
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_EQ(v.failed_required[0].find_first_of("\x1b\r\n"), std::string::npos)
        << v.failed_required[0];
}

TEST(HealthReport, NamesSlotBootVerdictAndFailingOutput) {
    std::vector<CheckOutcome> o = {required("10-app", exited(1, "no answer\nfrom app\n")),
                                   wanted("20-disk", exited(0, "not shown\n"))};
    auto text = health_report("b", 7, o, judge_health(o, kLimit), kLimit);
    EXPECT_EQ(text,
              "slot b, boot 7: UNHEALTHY (1 required check(s) failed; the slot stays unproven)\n"
              "required/10-app: exit status 1\n"
              "  | no answer\n"
              "  | from app\n"
              "wanted/20-disk: ok\n");
}

TEST(HealthReport, HealthyWithWantedFailures) {
    std::vector<CheckOutcome> o = {required("10-app", exited(0)), wanted("20-disk", exited(3))};
    auto text = health_report("a", 2, o, judge_health(o, kLimit), kLimit);
    EXPECT_EQ(text.substr(0, text.find('\n')),
              "slot a, boot 2: healthy, with 1 wanted check(s) failed");
}

TEST(HealthReport, StaysBounded) {
    std::vector<CheckOutcome> o;
    for (int i = 0; i < 100; ++i)
        o.push_back(required(std::to_string(i), exited(1, std::string(kHealthOutputMax, 'x'))));
    EXPECT_LE(health_report("a", 1, o, judge_health(o, kLimit), kLimit).size(), kHealthReportMax);
}

TEST(HealthEnv, CarriesSlotAndKindOnly) {
    EXPECT_EQ(health_environment("b", CheckKind::kWanted),
              (std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "IMAGEINIT_SLOT=b",
                                        "IMAGEINIT_CHECK=wanted"}));
}

// Lists and "runs" checks from a table: records what ran, in order, with what.
class ChecksPlatform : public Processes {
  public:
    std::map<std::string, std::vector<std::string>> dirs;
    std::map<std::string, int> exit_codes;  // by path; absent: 0
    std::vector<std::string> ran;
    std::vector<size_t> captured;

    Result<std::vector<std::string>> list_executables(const std::string& dir) override {
        if (dir == "/broken/required") return fail(EACCES, "opendir '/broken/required': denied");
        auto d = dirs.find(dir);
        return d == dirs.end() ? std::vector<std::string>{} : d->second;
    }
    Result<os::ProcessResult> run_program(const std::vector<std::string>& argv,
                                          const std::vector<std::string>& env, milliseconds limit,
                                          size_t capture_bytes) override {
        ran.push_back(argv.at(0) + " " + env.back() + " " + std::to_string(limit.count()));
        captured.push_back(capture_bytes);
        auto e = exit_codes.find(argv.at(0));
        return exited(e == exit_codes.end() ? 0 : e->second);
    }
};

TEST(HealthRun, RequiredFirstThenWantedEachInLexicalOrderSkippingLeftovers) {
    ChecksPlatform p;
    p.dirs["/h/required"] = {"20-b", "10-a", "10-a.dpkg-old", ".hidden"};
    p.dirs["/h/wanted"] = {"05-w"};
    p.exit_codes["/h/required/20-b"] = 1;
    auto outcomes = run_health_checks(p, "/h", "b", milliseconds(5000));
    EXPECT_EQ(p.ran, (std::vector<std::string>{"/h/required/10-a IMAGEINIT_CHECK=required 5000",
                                               "/h/required/20-b IMAGEINIT_CHECK=required 5000",
                                               "/h/wanted/05-w IMAGEINIT_CHECK=wanted 5000"}));
    EXPECT_EQ(p.captured, std::vector<size_t>(3, kHealthOutputMax));
    auto v = judge_health(outcomes, milliseconds(5000));
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_EQ(v.failed_required[0], "required/20-b: exit status 1");
}

TEST(HealthRun, MissingDirectoriesMeanNoChecks) {
    ChecksPlatform p;
    EXPECT_TRUE(run_health_checks(p, "/none", "a", kLimit).empty());
}

TEST(HealthRun, AnUnreadableRequiredDirectoryFails) {
    ChecksPlatform p;
    auto outcomes = run_health_checks(p, "/broken", "a", kLimit);
    auto v = judge_health(outcomes, kLimit);
    ASSERT_EQ(v.failed_required.size(), 1u);
    EXPECT_NE(v.failed_required[0].find("opendir '/broken/required'"), std::string::npos);
}

}  // namespace
}  // namespace imageinit::boot
