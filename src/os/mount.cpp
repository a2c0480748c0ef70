// Thin wrappers over mount(2) and umount2(2); bind mounts between open fds use the fd-based
// mount API (open_tree/mount_setattr/move_mount) when attributes must be set on the new mount.
#include "os/mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imageinit::os {
namespace {

// "mount 'SOURCE' on 'TARGET' (FSTYPE): strerror". Reads errno, so call it right after the call.
Unexpected mount_error(const std::string& source, const std::string& target,
                       const std::string& fstype) {
    int saved = errno;
    std::string msg = "mount '" + source + "' on '" + target + "'";
    if (!fstype.empty()) msg += " (" + fstype + ")";
    msg += ": ";
    msg += std::strerror(saved);
    return fail(saved, std::move(msg));
}

// The per-mount flags that a plain MS_BIND ignores (mount(2): "the remaining bits in
// mountflags are ignored" for a bind, except MS_REC), mapped to mount_setattr(2) attributes.
constexpr unsigned long kBindAttrFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

uint64_t attrs_of(unsigned long flags) {
    uint64_t attr = 0;
    if (flags & MS_RDONLY) attr |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID) attr |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV) attr |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC) attr |= MOUNT_ATTR_NOEXEC;
    return attr;
}

// A bind with attributes, in one piece: clone the source tree detached, set the attributes on
// the clone, then attach it. A remount of "/proc/self/fd/N" cannot do this: the magic link
// names the directory under the new bind, not the bind itself.
Result<void> bind_with_attrs(int src_fd, int target_fd, unsigned long flags,
                             const std::string& shown_source, const std::string& shown_target) {
    unsigned tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
    if (flags & MS_REC) tree_flags |= AT_RECURSIVE;
    UniqueFd tree(::open_tree(src_fd, "", tree_flags));
    if (!tree) return fail_errno("open_tree", shown_source);

    struct mount_attr attr = {};
    attr.attr_set = attrs_of(flags);
    unsigned setattr_flags = AT_EMPTY_PATH | ((flags & MS_REC) ? AT_RECURSIVE : 0);
    if (::mount_setattr(tree.get(), "", setattr_flags, &attr, sizeof(attr)) < 0)
        return fail_errno("mount_setattr", shown_source);

    if (::move_mount(tree.get(), "", target_fd, "",
                     MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return mount_error(shown_source, shown_target, "bind");
    return ok();
}

}  // namespace

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string real_path_of(int fd, const std::string& fallback) {
    char buf[4096];
    ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
    if (n <= 0) return fallback;
    return std::string(buf, static_cast<size_t>(n));
}

Result<void> mount(const std::string& source, const std::string& target, const std::string& fstype,
                   unsigned long flags, const std::string& data) {
    const char* src = source.empty() ? nullptr : source.c_str();
    const char* type = fstype.empty() ? nullptr : fstype.c_str();
    const void* opts = data.empty() ? nullptr : data.c_str();
    if (::mount(src, target.c_str(), type, flags, opts) < 0)
        return mount_error(source, target, fstype);
    return ok();
}

Result<void> mount_on_fd(const std::string& source, int target_fd, const std::string& fstype,
                         unsigned long flags, const std::string& data,
                         const std::string& shown_target) {
    // mount(2) follows the magic link to exactly the directory the fd was opened on; nothing
    // on the path by which it was found is looked up again.
    const char* src = source.empty() ? nullptr : source.c_str();
    const char* type = fstype.empty() ? nullptr : fstype.c_str();
    const void* opts = data.empty() ? nullptr : data.c_str();
    if (::mount(src, fd_path(target_fd).c_str(), type, flags, opts) < 0)
        return mount_error(source, shown_target, fstype);
    return ok();
}

Result<void> bind_fds(int src_fd, int target_fd, unsigned long extra_flags,
                      const std::string& shown_source, const std::string& shown_target) {
    if (extra_flags & kBindAttrFlags)
        return bind_with_attrs(src_fd, target_fd, extra_flags, shown_source, shown_target);
    unsigned long flags = MS_BIND | (extra_flags & MS_REC);
    if (::mount(fd_path(src_fd).c_str(), fd_path(target_fd).c_str(), nullptr, flags, nullptr) < 0)
        return mount_error(shown_source, shown_target, "bind");
    return ok();
}

Result<void> umount(const std::string& target, int flags) {
    if (::umount2(target.c_str(), flags) < 0) return fail_errno("umount", target);
    return ok();
}

Result<void> make_private_recursive(const std::string& target) {
    if (::mount(nullptr, target.c_str(), nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        return fail_errno("make private", target);
    return ok();
}

Result<void> move_mount(const std::string& from, const std::string& to) {
    if (::mount(from.c_str(), to.c_str(), nullptr, MS_MOVE, nullptr) < 0) {
        int saved = errno;
        std::string msg = "move mount '" + from + "' to '" + to + "': " + std::strerror(saved);
        return fail(saved, std::move(msg));
    }
    return ok();
}

MountGuard& MountGuard::operator=(MountGuard&& o) noexcept {
    if (this != &o) {
        release();
        target_ = std::move(o.target_);
        o.target_.clear();
    }
    return *this;
}

void MountGuard::release() {
    if (target_.empty()) return;
    // MNT_DETACH: an undo must not fail because something still has a file open below the
    // mount; the mount disappears from the tree now and is freed with its last user.
    int saved = errno;
    ::umount2(target_.c_str(), MNT_DETACH);
    errno = saved;
    target_.clear();
}

}  // namespace imageinit::os
