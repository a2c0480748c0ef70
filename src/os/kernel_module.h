// Inserting one kernel module file with finit_module(2), and the running kernel's release that
// names its module directory. Which modules, in which order, with which options is the caller's
// (boot/module_loader.h).
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::os {

// uname(2)'s release ("6.1.0-13-amd64"): /lib/modules/RELEASE holds the modules.
Result<std::string> kernel_release();

// Inserts the module file PATH with the parameter string PARAMS ("" for none). A compressed file
// (.xz, .zst, .gz) is handed to the kernel to decompress. Already loaded (EEXIST) is success.
Result<void> insert_module(const std::string& path, const std::string& params);

}  // namespace imageinit::os
