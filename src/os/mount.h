// Thin wrappers over mount(2)/umount2(2), and MountGuard: an undo guard that detaches a mount on
// scope exit unless committed, so a slot that fails late unwinds to a clean state.
#pragma once

#include <sys/mount.h>

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

// mount(2). Errors read "mount 'SOURCE' on 'TARGET' (FSTYPE): strerror". Empty source, fstype
// or data are passed as NULL.
Result<void> mount(const std::string& source, const std::string& target, const std::string& fstype,
                   unsigned long flags, const std::string& data);

// Mounts onto an already-resolved directory fd (via /proc/self/fd/N), so a symlink swapped in
// after resolution cannot redirect the mount. `shown_target` is only used in messages.
Result<void> mount_on_fd(const std::string& source, int target_fd, const std::string& fstype,
                         unsigned long flags, const std::string& data,
                         const std::string& shown_target);

// Bind-mounts the directory open at src_fd onto the directory open at target_fd. extra_flags:
// MS_REC, and MS_RDONLY/MS_NOSUID/MS_NODEV/MS_NOEXEC, which are applied to the new bind itself
// (open_tree + mount_setattr + move_mount) since a plain MS_BIND ignores them.
Result<void> bind_fds(int src_fd, int target_fd, unsigned long extra_flags,
                      const std::string& shown_source, const std::string& shown_target);

Result<void> umount(const std::string& target, int flags);
Result<void> make_private_recursive(const std::string& target);
Result<void> move_mount(const std::string& from, const std::string& to);

// "/proc/self/fd/N": the path that names an open fd to mount(2) and overlayfs options.
std::string fd_path(int fd);
// The path an open fd really names (readlink of fd_path), for undoing a mount made on the fd
// later by path; FALLBACK when the kernel cannot say.
std::string real_path_of(int fd, const std::string& fallback);

class MountGuard {
  public:
    MountGuard() = default;
    explicit MountGuard(std::string target) : target_(std::move(target)) {}
    MountGuard(MountGuard&& o) noexcept : target_(std::move(o.target_)) { o.target_.clear(); }
    MountGuard& operator=(MountGuard&& o) noexcept;
    MountGuard(const MountGuard&) = delete;
    MountGuard& operator=(const MountGuard&) = delete;
    ~MountGuard() { release(); }

    void commit() { target_.clear(); }  // keep the mount
    void release();                     // umount2(MNT_DETACH) now, if still owned
    const std::string& target() const { return target_; }

  private:
    std::string target_;
};

}  // namespace imageinit::os
