// Copy an image into a directory of a partition, fsync it, and verify it against the medium.
#pragma once

#include <string>

#include "core/result.h"

namespace imageinit::cli {

// Copies SRC to NAME in DIR_FD (created anew; DST names it in messages), fsyncs, then reads it
// back from the disk and compares. Progress goes to stderr in steps of 10%.
Result<void> copy_and_verify(const std::string& src, int dir_fd, const std::string& name,
                             const std::string& dst);

}  // namespace imageinit::cli
