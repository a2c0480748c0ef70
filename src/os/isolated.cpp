// run_isolated (see isolated.h): fork, one answer line on a pipe, waitpid.
#include "os/isolated.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/unique_fd.h"

namespace imageinit::os {

Result<std::string> run_isolated(const std::string& what,
                                 const std::function<Result<std::string>()>& fn) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return fail_errno("pipe2", what);
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("fork", what);
    if (pid == 0) {
        rd.reset();
        // The answer: "0 TEXT" or "ERRNO MESSAGE".
        auto r = fn();
        std::string line =
            r ? "0 " + *r
              : std::to_string(r.error().code ? r.error().code : EPERM) + " " + r.error().message;
        const char* p = line.data();
        size_t left = line.size();
        while (left > 0) {
            ssize_t n = ::write(wr.get(), p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            p += n;
            left -= static_cast<size_t>(n);
        }
        ::_exit(0);
    }
    wr.reset();
    std::string line;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        line.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status))
        return fail(EIO, what + " crashed (signal " + std::to_string(WTERMSIG(status)) + ", " +
                             strsignal(WTERMSIG(status)) + ")");
    auto space = line.find(' ');
    if (space == std::string::npos) return fail(EIO, what + " ended without an answer");
    int code = std::atoi(line.substr(0, space).c_str());
    if (code != 0) return fail(code, line.substr(space + 1));
    return line.substr(space + 1);
}

}  // namespace imageinit::os
