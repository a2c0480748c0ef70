// Small file helpers: bounded reads, plain writes, and the tree copy that seeds a persistent
// directory from the image.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

Result<UniqueFd> open_dir(const std::string& path, int extra_flags = 0);

// Reads a whole file, refusing more than max_bytes (EFBIG). For the kernel's files (/proc,
// /sys) and imageinit's own; a file on a partition or in an image goes through
// os/safe_open.h, which never blocks on a fifo.
Result<std::string> read_file(const std::string& path, size_t max_bytes);
// Reads FD to its end, refusing more than max_bytes (EFBIG). SHOWN names the file in errors.
Result<std::string> read_fd(int fd, size_t max_bytes, const std::string& shown);

// Plain write (create/truncate), for reports on tmpfs.
// write(2) until all of DATA is written (short writes and EINTR retried). SHOWN names the file in
// errors.
Result<void> write_all(int fd, std::string_view data, const std::string& shown);

Result<void> write_file(const std::string& path, const std::string& content, unsigned mode = 0644);

// Copies the tree open at src_dir_fd into the (empty) directory dst_dir_fd: regular files,
// directories, symlinks (as links, never followed), owners, modes, timestamps, xattrs where the
// target supports them. Device nodes, fifos and sockets are skipped; hard links become separate
// copies. The top directory takes the source's owner, mode and times. Either fd may be O_PATH.
Result<void> copy_tree(int src_dir_fd, int dst_dir_fd);

// Removes NAME in DIR_FD and, if it is a directory, everything below it (rm -rf), through fds
// only: a symlink anywhere is removed as a link, never followed, so nothing outside DIR_FD is
// touched. A missing NAME is not an error. SHOWN names NAME in errors.
Result<void> remove_tree_at(int dir_fd, const std::string& name, const std::string& shown);

}  // namespace imageinit::os
