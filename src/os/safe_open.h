// The one way to open a file or directory that lives on a partition or in an image: resolved
// from the partition's or image's root fd, never blocking (a fifo is refused, not waited on),
// and checked on the fd to be a regular file or a directory before anything reads it.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

// How a path is resolved below the root fd.
enum class Scope {
    // A slot image (read-only, or dm-verity checked): symlinks are legitimate (/boot/vmlinuz is
    // often one) and are resolved as if the image were "/" (RESOLVE_IN_ROOT).
    kImage,
    // The state and persistent partitions: hostile. No symlink anywhere on the way, the last
    // component included, and nothing above the root (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS).
    kPartition,
    // A path an administrator named (a command-line argument) or the initramfs's own file:
    // resolved as given, still opened without blocking and checked.
    kHost,
};

enum class Want { kFile, kDir };

// Opens PATH below ROOT_FD as SCOPE says, with O_NONBLOCK|O_CLOEXEC|O_NOCTTY added to FLAGS
// (O_RDONLY, or O_PATH), then requires S_ISREG (kFile) or S_ISDIR (kDir) on the fd. Errors name
// PATH and what is there: "'imageinit/state' is a fifo, not a regular file". ENOENT stays ENOENT.
Result<UniqueFd> open_checked(int root_fd, const std::string& path, Scope scope, Want want,
                              int flags = 0);

// The whole regular file at PATH; more than MAX_BYTES is EFBIG.
Result<std::string> read_checked(int root_fd, const std::string& path, Scope scope,
                                 size_t max_bytes);

// At most the first MAX_BYTES of the regular file at PATH (a kernel's header, say).
Result<std::string> read_head_checked(int root_fd, const std::string& path, Scope scope,
                                      size_t max_bytes);

// "a fifo", "a socket", "a directory", ... for messages.
const char* file_kind(mode_t mode);

}  // namespace imageinit::os
