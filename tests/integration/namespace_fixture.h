// NamespaceTest: runs a test body as root in a forked child inside a private mount namespace, so
// mounts and loop devices of a test vanish with the child. Skipped when not root.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>

namespace imageinit::testing {

class NamespaceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces, loop devices)";
        char tmpl[] = "/tmp/imageinit-it.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }

    void TearDown() override {
        // The child's mounts died with its namespace: nothing is mounted below dir_ here.
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    // Runs `body` in a child with its own mount namespace and "/" made private recursively.
    // Assertion failures in the child print there and fail this test through the exit status;
    // a GTEST_SKIP in the child skips this test.
    void in_namespace(const std::function<void()>& body) {
        std::fflush(stdout);
        std::fflush(stderr);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int rc = 3;
            if (::unshare(CLONE_NEWNS) == 0 &&
                ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
                // An escaping exception must not unwind into gtest in the child, which would
                // go on to run the rest of the suite inside this namespace.
                try {
                    body();
                    rc = HasFailure() ? 1 : IsSkipped() ? 2 : 0;
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "exception in namespace child: %s\n", e.what());
                    rc = 1;
                } catch (...) {
                    std::fprintf(stderr, "unknown exception in namespace child\n");
                    rc = 1;
                }
            } else {
                std::perror("unshare/make-private");
            }
            std::fflush(stdout);
            std::fflush(stderr);
            ::_exit(rc);  // no gtest teardown or atexit handlers in the child
        }
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
        if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "skipped in the namespace child";
        ASSERT_NE(WEXITSTATUS(status), 3) << "could not set up the private mount namespace";
        EXPECT_EQ(WEXITSTATUS(status), 0) << "the test body failed in the namespace child";
    }

    // Path below this test's private temporary directory.
    std::string path(const std::string& rel) const { return dir_ + "/" + rel; }

    // Runs a shell command, true on exit status 0 (output of tools goes to the test log).
    static bool sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
    static bool have_tool(const std::string& tool) {
        return sh("command -v " + tool + " >/dev/null 2>&1");
    }

    std::string dir_;
};

}  // namespace imageinit::testing
