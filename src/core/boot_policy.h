// Pure rules the real boot seams apply (boot/real_platform.h): where a mount point must land and
// how a first seeding of a persistent directory is staged. Kept here, as plain values in and out,
// so each is table-tested without root.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::core {

// A mount point PATH opened inside a root that really is at ROOT_AT must have landed exactly at
// ROOT_AT/PATH (both as the kernel reports them, /proc/self/fd). Anything else went through a
// symlink inside the root: ELOOP naming where it went, relative to the root when inside it.
Result<void> check_landing(const std::string& path, const std::string& root_at,
                           const std::string& landed);

// The first seeding of persistent directory REL (no leading '/') is copied into STAGING (below
// the partition root, unique per process and call) and then renamed to PARENT/LEAF.
struct SeedStaging {
    std::string staging;  // ".seed/PID-N"
    std::string parent;   // "" for a directory at the partition root
    std::string leaf;
};
SeedStaging seed_staging(const std::string& rel, long pid, unsigned counter);

}  // namespace imageinit::core
