// The emergency path's log line (log::write_static) is written without allocating: PID 1 calls it
// from catch handlers, where the exception may be std::bad_alloc (issue 19). A counting
// operator new for this test binary shows it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "base/log.h"

// GCC cannot see that these operators replace the global ones and takes free() after an
// inlined operator new for a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Every non-aligned form is replaced, so that memory from one form is never released by another
// runtime's form (ASan reports that as a mismatch).
void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++g_allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept {
    return operator new(n, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace imageinit::log {
namespace {

// Runs FN with stderr going to a pipe; returns what was written and the allocations made.
template <typename Fn>
std::pair<std::string, long> capture_stderr(Fn fn) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    int saved = ::dup(2);
    ::dup2(fds[1], 2);
    long before = g_allocations.load();
    fn();
    long made = g_allocations.load() - before;
    ::dup2(saved, 2);
    ::close(saved);
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
        out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    return {out, made};
}

TEST(EmergencyLog, WritesTheLineWithoutAllocating) {
    set_sink(Sink::kStderr);
    auto [out, allocations] = capture_stderr([] {
        write_static(Level::kError, {"BOOT FAILED: ", "internal error: ", "std::bad_alloc"});
    });
    EXPECT_EQ(out, "imageinit: BOOT FAILED: internal error: std::bad_alloc\n");
    EXPECT_EQ(allocations, 0);
}

TEST(EmergencyLog, LongMessageIsCutToOneBoundedLine) {
    set_sink(Sink::kStderr);
    static const std::string long_text(5000, 'x');
    const char* text = long_text.c_str();
    auto [out, allocations] = capture_stderr([text] { write_static(Level::kError, {text, text}); });
    EXPECT_LT(out.size(), 1024u);
    EXPECT_GT(out.size(), 900u);
    EXPECT_EQ(out.back(), '\n');
    EXPECT_EQ(out.find('\n'), out.size() - 1);
    EXPECT_EQ(allocations, 0);
}

TEST(EmergencyLog, NullPartIsSkipped) {
    set_sink(Sink::kStderr);
    auto [out, allocations] = capture_stderr([] {
        write_static(Level::kError, {"a", nullptr, "b"});
    });
    EXPECT_EQ(out, "imageinit: ab\n");
}

}  // namespace
}  // namespace imageinit::log
