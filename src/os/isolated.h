// Running a parser of untrusted bytes in a child process: a crash in it (a library bug met by a
// crafted file) then fails that one call instead of killing PID 1 (a kernel panic, and a boot
// loop when the file is on the disk).
#pragma once

#include <functional>
#include <string>

#include "base/result.h"

namespace imageinit::os {

// Runs FN in a forked child and returns its result (a string, or its errno and message). A child
// killed by a signal is EIO "WHAT crashed (signal N, NAME)". Only for work that changes nothing
// in the parent: the child's memory is thrown away.
Result<std::string> run_isolated(const std::string& what,
                                 const std::function<Result<std::string>()>& fn);

}  // namespace imageinit::os
