// open_checked and the bounded reads over it (see safe_open.h). Issue 19: a fifo where the
// boot-state record, a root hash or a slot's spec or kernel belongs blocked open(2) or read(2)
// forever, hanging PID 1 before any try was counted or any fallback could run.
#include "os/safe_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "os/files.h"
#include "os/resolve.h"

namespace imageinit::os {
namespace {

std::string quoted(const std::string& path) { return "'" + path + "'"; }

Result<UniqueFd> resolve(int root_fd, const std::string& path, Scope scope, int flags) {
    switch (scope) {
        case Scope::kImage:
            return open_in_root(root_fd, path, flags);
        case Scope::kPartition: {
            // A final symlink is refused either way: ELOOP, or with O_PATH|O_NOFOLLOW an fd of
            // the link itself (openat2(2)), which the type check below refuses.
            auto fd = open_beneath_no_symlinks(root_fd, path, flags | O_NOFOLLOW);
            if (!fd && fd.error().code == ELOOP)
                return fail(ELOOP, quoted(path) +
                                       " is or passes through a symlink: symlinks on "
                                       "this partition are never followed");
            if (!fd && fd.error().code == EXDEV)
                return fail(EXDEV, quoted(path) + " leads outside the partition");
            return fd;
        }
        case Scope::kHost: {
            UniqueFd fd(::openat(root_fd, path.c_str(), flags | O_CLOEXEC));
            if (!fd) return fail_errno("open", path);
            return fd;
        }
    }
    return fail(EINVAL, "open " + quoted(path) + ": unknown scope");
}

}  // namespace

const char* file_kind(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return "a regular file";
        case S_IFDIR:
            return "a directory";
        case S_IFLNK:
            return "a symlink";
        case S_IFIFO:
            return "a fifo";
        case S_IFSOCK:
            return "a socket";
        case S_IFCHR:
            return "a character device";
        case S_IFBLK:
            return "a block device";
        default:
            return "of an unknown type";
    }
}

Result<UniqueFd> open_checked(int root_fd, const std::string& path, Scope scope, Want want,
                              int flags) {
    // O_NONBLOCK: opening a fifo for reading would otherwise wait for a writer that never
    // comes (fifo(7)); with it the open returns and the type check below refuses the fifo.
    // O_NOCTTY: a terminal device must never become PID 1's controlling terminal.
    // openat2 refuses any flag but O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC beside O_PATH (EINVAL), and
    // an O_PATH open reads nothing, so it cannot block anyway.
    int open_flags = flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NONBLOCK | O_NOCTTY);
    if (want == Want::kDir) open_flags |= O_DIRECTORY;
    auto fd = resolve(root_fd, path, scope, open_flags);
    if (!fd) {
        // O_DIRECTORY on a non-directory, a socket (ENXIO), a device node on a nodev mount
        // (EACCES): when the wrong kind of file is there, say what it is.
        int code = fd.error().code;
        if (code != ENOENT && code != ELOOP && code != EXDEV) {
            struct stat st;
            auto any = resolve(root_fd, path, scope,
                               O_PATH | (scope == Scope::kPartition ? O_NOFOLLOW : 0));
            if (any && ::fstat(any->get(), &st) == 0 &&
                (want == Want::kDir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
                return fail(
                    code, quoted(path) + " is " + file_kind(st.st_mode) +
                              (want == Want::kDir ? ", not a directory" : ", not a regular file"));
        }
        return Unexpected(std::move(fd).error());
    }
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) return fail_errno("fstat", path);
    if (want == Want::kDir && !S_ISDIR(st.st_mode))
        return fail(ENOTDIR, quoted(path) + " is " + file_kind(st.st_mode) + ", not a directory");
    if (want == Want::kFile && !S_ISREG(st.st_mode))
        return fail(S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
                    quoted(path) + " is " + file_kind(st.st_mode) + ", not a regular file");
    return std::move(*fd);
}

Result<std::string> read_checked(int root_fd, const std::string& path, Scope scope,
                                 size_t max_bytes) {
    UniqueFd fd = TRY(open_checked(root_fd, path, scope, Want::kFile, O_RDONLY));
    return read_fd(fd.get(), max_bytes, path);
}

Result<std::string> read_head_checked(int root_fd, const std::string& path, Scope scope,
                                      size_t max_bytes) {
    UniqueFd fd = TRY(open_checked(root_fd, path, scope, Want::kFile, O_RDONLY));
    std::string out(max_bytes, '\0');
    size_t have = 0;
    while (have < max_bytes) {
        ssize_t n =
            ::pread(fd.get(), out.data() + have, max_bytes - have, static_cast<off_t>(have));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read", path);
        if (n == 0) break;
        have += static_cast<size_t>(n);
    }
    out.resize(have);
    return out;
}

}  // namespace imageinit::os
