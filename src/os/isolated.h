// Running a parser of untrusted bytes (a signature, a LUKS2 header and its KDFs) in a child
// process: a crash in it (a library bug met by a crafted file) then fails that one call instead of
// killing PID 1 (a kernel panic, and a boot loop when the file is on the disk).
#pragma once

#include <functional>
#include <string>

#include "base/result.h"

namespace imageinit::os {

// Runs FN in a forked child and returns its result (a string, or its errno and message; an error
// without errno comes back as EPERM). A child killed by a signal is EIO "WHAT crashed (signal N,
// NAME)", one that ends without answering EIO "WHAT ended without an answer". The child's memory
// is thrown away (what FN changes in the kernel, such as a dm device it creates, stays).
Result<std::string> run_isolated(const std::string& what,
                                 const std::function<Result<std::string>()>& fn);

}  // namespace imageinit::os
