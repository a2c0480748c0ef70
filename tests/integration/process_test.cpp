// os::run_process against real processes: exit codes, the exact environment, the time limit
// (the whole process group is killed), and programs that cannot be executed.
#include "os/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace imageinit::os {
namespace {

using namespace std::chrono_literals;

// True once PID is gone or a zombie. SIGKILL is delivered asynchronously: allow a moment.
bool dies_soon(pid_t pid) {
    for (int i = 0; i < 200; ++i) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        if (!std::getline(stat, line) || line.substr(line.rfind(')') + 2, 1) == "Z") return true;
        ::usleep(10000);
    }
    return false;
}

Result<ProcessResult> sh(const std::string& script, std::chrono::milliseconds limit = 5s,
                         std::vector<std::string> env = {}) {
    return run_process({"/bin/sh", "-c", script}, env, limit);
}

// Runs a hook that starts a background `sleep 60`, records its pid, then runs THEN.
struct WithBackgroundChild {
    Result<ProcessResult> result;
    pid_t child = 0;  // 0: the pid was not recorded
};

WithBackgroundChild sh_with_background_child(const std::string& then,
                                             std::chrono::milliseconds limit = 5s) {
    char path[] = "/tmp/imageinit-pid.XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    if (fd >= 0) ::close(fd);
    WithBackgroundChild out{sh(std::string("sleep 60 & echo $! > ") + path + "; " + then, limit)};
    std::ifstream in(path);
    in >> out.child;
    ::unlink(path);
    return out;
}

TEST(RunProcess, ReportsTheExitStatus) {
    auto r = sh("exit 7");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->timed_out);
    EXPECT_EQ(r->exit_code, 7);
    EXPECT_EQ(describe(*r, 5s), "exit status 7");
}

TEST(RunProcess, GivesExactlyTheEnvironment) {
    char path[] = "/tmp/imageinit-env.XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    auto r = sh(std::string("env > ") + path, 5s, {"IMAGEINIT_SLOT=a", "X=1"});
    ASSERT_TRUE(r) << r.error().message;
    std::ifstream in(path);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    ::unlink(path);
    EXPECT_NE(content.find("IMAGEINIT_SLOT=a\n"), std::string::npos) << content;
    EXPECT_EQ(content.find("HOME="), std::string::npos) << "inherited the test's environment";
}

TEST(RunProcess, KillsTheProcessGroupAtTheLimit) {
    // The hook starts a background child and then hangs: both must be gone at the limit.
    auto start = std::chrono::steady_clock::now();
    auto [r, child] = sh_with_background_child("sleep 60", 300ms);
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->timed_out);
    EXPECT_EQ(r->signal, SIGKILL);
    EXPECT_EQ(describe(*r, 300ms), "timed out after 300 ms");
    EXPECT_LT(took, 5s);
    ASSERT_GT(child, 0);
    // The background sleep was in the same group: killed.
    EXPECT_TRUE(dies_soon(child)) << "background child " << child << " still running";
}

TEST(RunProcess, BackgroundChildrenDieWithTheHook) {
    auto [r, child] = sh_with_background_child("exit 0");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_LT(r->elapsed, 5s);
    ASSERT_GT(child, 0);
    EXPECT_TRUE(dies_soon(child)) << "background child " << child << " still running";
}

TEST(RunProcess, CapturesStdoutAndStderrInOrder) {
    auto r = run_process({"/bin/sh", "-c", "echo one; echo two >&2; echo three"}, {}, 5s, 4096);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->output, "one\ntwo\nthree\n");
}

TEST(RunProcess, CaptureKeepsOnlyTheLastBytes) {
    auto r = run_process({"/bin/sh", "-c", "seq 1 1000; echo last words"}, {}, 5s, 16);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->output, "1000\nlast words\n");
}

TEST(RunProcess, CapturesTheOutputOfAProgramKilledAtTheLimit) {
    auto r =
        run_process({"/bin/sh", "-c", "echo waiting for the service; sleep 60"}, {}, 300ms, 4096);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->timed_out);
    EXPECT_EQ(r->output, "waiting for the service\n");
}

TEST(RunProcess, SaysWhenAProgramCannotBeExecuted) {
    auto r = run_process({"/nonexistent/hook"}, {}, 1s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_NE(r.error().message.find("cannot execute '/nonexistent/hook'"), std::string::npos);
}

}  // namespace
}  // namespace imageinit::os
