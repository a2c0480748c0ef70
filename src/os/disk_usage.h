// Who is using a disk right now: a mounted filesystem on it or on one of its partitions, a
// holder (device-mapper, md) on top of it, or swap. Bootstrap refuses such a disk.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::os {

// One line per user ("'/dev/vda1' is mounted on '/'", "'vda2' is held by 'dm-0'"); empty when
// the disk is free. A regular file (a disk image) has no users here.
Result<std::vector<std::string>> disk_users(const std::string& device);

}  // namespace imageinit::os
