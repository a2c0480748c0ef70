// Running the standard image tools (mkfs.erofs, mksquashfs, veritysetup, imageinit check) as
// child processes, optionally capturing their combined output.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

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

// "a 'b c'": for error messages and --verbose.
std::string describe(const std::vector<std::string>& argv);

}  // namespace imageinit::compose
