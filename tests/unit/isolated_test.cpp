// os::run_isolated: the child's answer, error, silence and crash reach the parent as results.
#include "os/isolated.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

namespace imageinit::os {
namespace {

TEST(Isolated, AnswerAndErrorPassThrough) {
    auto r = run_isolated("x", [] { return Result<std::string>(std::string("signed by 'a b'")); });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "signed by 'a b'");
    r = run_isolated("x", []() -> Result<std::string> { return fail(EBADMSG, "no match"); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_EQ(r.error().message, "no match");
}

TEST(Isolated, CrashInTheChildIsAnErrorOfTheParent) {
    auto r = run_isolated("verifying the signature", []() -> Result<std::string> {
        std::raise(SIGSEGV);
        return std::string("not reached");
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EIO);
    // Signal 11 in a plain build; under ASan its SEGV handler reports and aborts (signal 6).
    EXPECT_EQ(r.error().message.rfind("verifying the signature crashed (signal ", 0), 0u)
        << r.error().message;
}

TEST(Isolated, AnErrorWithoutErrnoIsAnEpermOfTheParent) {
    auto r = run_isolated("x", []() -> Result<std::string> { return fail("bad passphrase"); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EPERM);
    EXPECT_EQ(r.error().message, "bad passphrase");
}

TEST(Isolated, AChildEndingWithoutAnAnswerIsAnIoErrorNamingTheWork) {
    auto r = run_isolated("unlocking '/dev/vdb'", []() -> Result<std::string> {
        ::_exit(0);
        return std::string("not reached");
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EIO);
    EXPECT_EQ(r.error().message, "unlocking '/dev/vdb' ended without an answer");
}

}  // namespace
}  // namespace imageinit::os
