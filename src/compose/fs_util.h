// The few file-system operations compose needs, all relative to directory fds and never
// following symlinks, so nothing a layer contains can redirect them outside the staging tree.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::compose {

// Opens a directory below `dirfd` without following symlinks (O_NOFOLLOW on the last component;
// `name` must be a single component).
Result<UniqueFd> open_dir_at(int dirfd, const std::string& name);
Result<UniqueFd> open_dir(const std::string& path);

// Walks `rel` ("a/b/c") from `root_fd` one component at a time, never following a symlink.
// Returns an invalid fd (not an error) when some component is missing or not a directory.
Result<UniqueFd> walk_dir(int root_fd, const std::string& rel);

// Sorted names in a directory, without "." and "..".
Result<std::vector<std::string>> list_dir(int dirfd);

// Removes `name` below `dirfd` with everything under it (walked without recursion, see
// tree_walk.h). Missing is not an error.
Result<void> remove_at(int dirfd, const std::string& name);
// Removes everything inside the directory, keeping it.
Result<void> remove_children(int dirfd);
Result<void> remove_tree(const std::string& path);

Result<void> mkdir_p(const std::string& path, mode_t mode = 0755);

// Owner, mode (after the owner: chown clears set-id bits) and xattrs of `src_name` in `src_dir`
// applied to `dst_name` in `dst_dir`. Existing xattrs on the destination are replaced.
Result<void> copy_metadata(int src_dir, const std::string& src_name, const struct stat& st,
                           int dst_dir, const std::string& dst_name);

// Creates a copy of a non-directory (regular file, symlink, device, fifo, socket) with its
// metadata. Used where a hard link is impossible (another file system, link limit).
Result<void> copy_node(int src_dir, const std::string& name, const struct stat& st, int dst_dir);

}  // namespace imageinit::compose
