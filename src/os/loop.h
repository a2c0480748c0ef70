// Loop devices: attach a backing file read-only with one LOOP_CONFIGURE ioctl (autoclear set,
// so the device goes away with its last user). LoopDevice owns the fd; dropping it before the
// mount is made releases the device.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

struct LoopDevice {
    std::string path;  // /dev/loopN
    UniqueFd fd;       // holds the device until the filesystem on it is mounted
};

// Attaches `file` (offset/size 0 = whole file) read-only via /dev/loop-control + LOOP_CONFIGURE,
// retrying when another process wins the race for the free device.
Result<LoopDevice> attach_loop(const std::string& file, bool read_only = true, uint64_t offset = 0,
                               uint64_t size_limit = 0);

}  // namespace imageinit::os
