// Safe path resolution inside a root (the new root, the persistent partition): openat2 with
// RESOLVE_IN_ROOT so symlinks and ".." stay inside, and mkdir walks that never follow symlinks.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

// Opens `path` (absolute, normalised) inside the directory `root_fd` with openat2
// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: symlinks and ".." are resolved as if root_fd were "/".
// `flags` are open(2) flags (O_PATH|O_DIRECTORY typical).
Result<UniqueFd> open_in_root(int root_fd, const std::string& path, int flags);

// As open_in_root but refusing every symlink on the way (RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH):
// for the persistent partition, whose content an attacker may control.
Result<UniqueFd> open_beneath_no_symlinks(int root_fd, const std::string& path, int flags);

// PATH as given (absolute, or relative to dir_fd) with RESOLVE_NO_SYMLINKS: no component may be
// a symlink. For a path below a partition's mount point whose root fd the caller does not hold.
Result<UniqueFd> open_no_symlinks(int dir_fd, const std::string& path, int flags);

// Creates each missing directory of `path` below root_fd (mode for new ones), one component at a
// time with mkdirat + openat(O_NOFOLLOW|O_DIRECTORY): a symlink anywhere is an error (ELOOP or
// ENOTDIR), never followed. Returns an O_PATH|O_DIRECTORY fd of the last component.
Result<UniqueFd> mkdir_p_beneath(int root_fd, const std::string& path, unsigned mode);

}  // namespace imageinit::os
