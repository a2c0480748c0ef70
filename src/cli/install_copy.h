// Copying an image into a slot and verifying it from the medium (install_copy.cpp).
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::cli {

// Copies SRC to NAME in DIR_FD (created anew, whatever was there removed first; DST names it in
// messages), fsyncs, then drops the cached pages, reads it back from the disk and compares.
Result<void> copy_and_verify(const std::string& src, int dir_fd, const std::string& name,
                             const std::string& dst);

}  // namespace imageinit::cli
