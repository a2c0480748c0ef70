// Running a helper program (an initramfs hook, a health check) with a time limit: fork +
// execve in its own process group, waited for through a pidfd and poll(2) with one deadline (no
// sleep loops); at the limit the whole process group is killed with SIGKILL.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::os {

struct ProcessResult {
    bool timed_out = false;  // killed at the limit
    int exit_code = -1;      // exit status, or -1 when ended by a signal
    int signal = 0;          // the signal that ended it (SIGKILL after a timeout)
    std::chrono::milliseconds elapsed{0};
    std::string output;  // with capture_bytes: the last bytes it wrote to stdout and stderr
};

// Runs ARGV (argv[0] is the path, not searched in PATH) with exactly the environment ENV,
// stdin from /dev/null, stdout and stderr inherited, or, with CAPTURE_BYTES > 0, both written
// to one anonymous file of which the last CAPTURE_BYTES come back in `output` (a health check's
// message is at its end). Whatever is left of its process group when
// it ends (background children) is killed too: nothing a helper starts outlives it.
// Errors: fork/pidfd failures, and "cannot execute" (execve failed: the error carries its errno).
Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env,
                                  std::chrono::milliseconds limit, size_t capture_bytes = 0);

// "exit status 3", "killed by signal 9", "timed out after 30 s".
std::string describe(const ProcessResult& r, std::chrono::milliseconds limit);

}  // namespace imageinit::os
