// Running the standard image tools (mkfs.erofs, mksquashfs, veritysetup, imageinit check) as
// child processes, optionally capturing their combined output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::compose {

struct RunOutput {
    int exit_code = 0;   // the exit status, or 128 + signal
    int signal = 0;      // the signal that killed it, 0 when it exited
    std::string output;  // stdout and stderr, when captured
};

// Fails only when the program cannot be started; a non-zero exit is reported in exit_code.
// `unset_env` names variables removed from the child's environment.
Result<RunOutput> run(const std::vector<std::string>& argv, bool capture,
                      const std::vector<std::string>& unset_env = {});

// Runs ARGV (looked up in PATH) with INPUT written to its stdin and its stdout captured in
// `output` (more than MAX_OUTPUT bytes is EFBIG); stderr is inherited. INPUT must fit in a pipe
// (a few KiB): it is written before the output is read. For credential helpers.
Result<RunOutput> run_with_input(const std::vector<std::string>& argv, std::string_view input,
                                 size_t max_output);

// "a 'b c'": for error messages and --verbose.
std::string describe(const std::vector<std::string>& argv);

}  // namespace imageinit::compose
