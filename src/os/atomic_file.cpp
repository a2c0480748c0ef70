// Atomic file replacement (write NAME.tmp, fsync, rename over NAME, fsync the directory) and the
// real FileOps behind it: one small function per system call.
#include "os/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>

#include "os/files.h"
#include "os/mount.h"

namespace imageinit::os {
namespace {

class RealFileOps final : public FileOps {
  public:
    Result<int> open_tmp(int dir_fd, const std::string& name, unsigned mode) override {
        // Whatever sits at NAME.tmp (a leftover, or a planted symlink or fifo) goes first, and
        // the file is then made new (O_EXCL): opening an existing fifo for writing would wait
        // for a reader forever, and a symlink must not redirect the write elsewhere.
        if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT)
            return fail_errno("unlinkat", name);
        int fd = ::openat(dir_fd, name.c_str(),
                          O_CLOEXEC | O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_NONBLOCK, mode);
        if (fd < 0) return fail_errno("openat", name);
        return fd;
    }

    Result<void> write_all(int fd, const std::string& data) override {
        return os::write_all(fd, data, os::fd_path(fd));
    }

    Result<void> fsync(int fd) override {
        while (::fsync(fd) < 0) {
            if (errno != EINTR) return fail_errno("fsync", "");
        }
        return ok();
    }

    Result<void> close(int fd) override {
        // Never retried: on Linux the fd is gone even when close reports EINTR.
        if (::close(fd) < 0 && errno != EINTR) return fail_errno("close", "");
        return ok();
    }

    Result<void> rename(int dir_fd, const std::string& from, const std::string& to) override {
        if (::renameat(dir_fd, from.c_str(), dir_fd, to.c_str()) < 0)
            return fail_errno("renameat", from + "' -> '" + to);
        return ok();
    }

    Result<void> fsync_dir(int dir_fd) override {
        // Makes the rename itself durable (rename(2) alone only orders it in memory).
        while (::fsync(dir_fd) < 0) {
            if (errno != EINTR) return fail_errno("fsync", "directory");
        }
        return ok();
    }
};

}  // namespace

FileOps& real_file_ops() {
    static RealFileOps ops;
    return ops;
}

Result<void> write_file_atomic(int dir_fd, const std::string& name, const std::string& content,
                               FileOps& ops, unsigned mode) {
    // The directory fsync'd is dir_fd itself, so NAME must live directly in it.
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        return fail(EINVAL, "atomic write: '" + name +
                                "' is not a plain file name (open its directory and pass that)");
    const std::string ctx = "replace '" + name + "'";
    const std::string tmp = name + ".tmp";
    int fd = TRY_CTX(ops.open_tmp(dir_fd, tmp, mode), ctx);
    auto written = ops.write_all(fd, content);
    if (written) written = ops.fsync(fd);
    if (!written) {
        (void)ops.close(fd);  // the write's error is the one worth reporting
        return add_context(std::move(written), ctx);
    }
    TRY_CTX(ops.close(fd), ctx);
    TRY_CTX(ops.rename(dir_fd, tmp, name), ctx);
    TRY_CTX(ops.fsync_dir(dir_fd), ctx);
    return ok();
}

Result<void> remove_file_durable(int dir_fd, const std::string& name) {
    if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT)
        return fail_errno("unlinkat", name);
    return real_file_ops().fsync_dir(dir_fd);
}

}  // namespace imageinit::os
