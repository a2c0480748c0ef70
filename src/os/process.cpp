// run_process (see process.h). The child reports an execve failure through a close-on-exec
// pipe, so "cannot execute" is told apart from a program that exits 127.
#include "os/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "base/unique_fd.h"

namespace imageinit::os {
namespace {

using Clock = std::chrono::steady_clock;

// glibc 2.36 declares pidfd_open only in <sys/pidfd.h>, which older toolchains lack.
int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Only async-signal-safe calls between fork and execve.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, int err_fd, int out_fd) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    // dup2 clears close-on-exec on the copies only.
    if (out_fd >= 0) ::dup2(out_fd, 1), ::dup2(out_fd, 2);
    ::execve(argv[0], argv, envp);
    int e = errno;
    (void)!::write(err_fd, &e, sizeof e);
    ::_exit(127);
}

Result<ProcessResult> reap(pid_t pid, ProcessResult r) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return fail_errno("waitpid", "");
    }
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

// The last MAX bytes written to FD (a memfd shared with the child).
Result<std::string> read_tail(int fd, size_t max) {
    struct stat st;
    if (::fstat(fd, &st) < 0) return fail_errno("fstat", "captured output");
    auto size = static_cast<size_t>(st.st_size);
    size_t n = std::min(size, max);
    std::string out(n, '\0');
    ssize_t got = ::pread(fd, out.data(), n, static_cast<off_t>(size - n));
    if (got < 0) return fail_errno("pread", "captured output");
    out.resize(static_cast<size_t>(got));
    return out;
}

}  // namespace

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env,
                                  std::chrono::milliseconds limit, size_t capture_bytes) {
    if (argv.empty()) return fail(EINVAL, "run_process: empty argv");
    UniqueFd out_fd;
    if (capture_bytes > 0) {
        out_fd = UniqueFd(::memfd_create("imageinit-output", MFD_CLOEXEC));
        if (!out_fd) return fail_errno("memfd_create", argv[0]);
    }
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return fail_errno("pipe2", argv[0]);
    UniqueFd err_read(pipe_fds[0]), err_write(pipe_fds[1]);

    auto start = Clock::now();
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("fork", argv[0]);
    if (pid == 0) exec_child(cargv.data(), cenv.data(), err_write.get(), out_fd.get());
    // Also from the parent: whichever runs first, the group exists before we may signal it.
    ::setpgid(pid, pid);
    err_write.reset();

    ProcessResult r;
    int exec_errno = 0;
    if (::read(err_read.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
        (void)reap(pid, r);
        errno = exec_errno;
        return fail_errno("cannot execute", argv[0]);
    }

    UniqueFd pidfd(pidfd_open(pid));
    if (!pidfd) {
        int saved = errno;
        ::kill(-pid, SIGKILL);
        (void)reap(pid, r);
        errno = saved;
        return fail_errno("pidfd_open", argv[0]);
    }
    auto deadline = start + limit;
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        struct pollfd pfd = {pidfd.get(), POLLIN, 0};
        int n = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("poll", argv[0]);
        if (n == 0) r.timed_out = true;
        break;
    }
    // The leader is a zombie (or about to be killed) and not yet reaped, so its pid, which is
    // the group id, cannot have been reused: signalling the group hits only its processes.
    ::kill(-pid, SIGKILL);
    auto out = TRY(reap(pid, r));
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (out_fd) out.output = TRY(read_tail(out_fd.get(), capture_bytes));
    return out;
}

std::string describe(const ProcessResult& r, std::chrono::milliseconds limit) {
    if (r.timed_out) {
        auto ms = limit.count();
        return "timed out after " +
               (ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s");
    }
    if (r.signal) return "killed by signal " + std::to_string(r.signal);
    return "exit status " + std::to_string(r.exit_code);
}

}  // namespace imageinit::os
