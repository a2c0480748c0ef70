// RealPlatform (see real_platform.h): each method is a short composition of sys:: calls.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <atomic>
#include <memory>

#include "boot/real_platform.h"
#include "sys/atomic_file.h"
#include "sys/blkid.h"
#include "sys/files.h"
#include "sys/log.h"
#include "sys/loop.h"
#include "sys/mount.h"
#include "sys/resolve.h"
#include "sys/safe_open.h"

namespace imageinit::boot {
namespace {

// The path a mount made on an fd really landed on, for undoing it later by path.
std::string real_path_of(int fd, const std::string& fallback) {
    char buf[4096];
    ssize_t n = ::readlink(sys::fd_path(fd).c_str(), buf, sizeof buf - 1);
    if (n <= 0) return fallback;
    return std::string(buf, static_cast<size_t>(n));
}

Undo unmount_undo(std::string path) {
    return Undo([path = std::move(path)] { (void)sys::umount(path, MNT_DETACH); });
}

std::string strip_slash(const std::string& p) {
    size_t i = 0;
    while (i < p.size() && p[i] == '/') ++i;
    return p.substr(i);
}

std::string join_path(const std::string& base, const std::string& rel) {
    return base + (base.ends_with("/") ? "" : "/") + strip_slash(rel);
}

// A directory fd that fsync and getdents work on (O_PATH fds do not support them).
Result<sys::UniqueFd> reopen_dir(const Dir& dir) {
    int fd = ::openat(dir.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail_errno("openat", dir.path);
    return sys::UniqueFd(fd);
}

}  // namespace

Result<std::vector<std::string>> RealPlatform::find_devices(const std::string& spec) {
    return sys::find_devices(spec);
}

Result<std::string> RealPlatform::whole_disk_of(const std::string& device) {
    return sys::whole_disk_of(device);
}

Result<void> RealPlatform::wait_until(const std::function<bool()>& ready,
                                      Clock::time_point deadline, const std::string& what) {
    if (ready()) return ok();
    if (!waiter_) return fail(ENODEV, what + " not found");
    // Said once, so a console that seems stuck tells why (and the hot-plug test knows when to
    // plug: qemu/harness.py).
    auto left = std::chrono::ceil<std::chrono::seconds>(deadline - Clock::now()).count();
    log::info("waiting up to " + std::to_string(left < 0 ? 0 : left) + " s for " + what);
    return waiter_->wait_until(ready, deadline, what);
}

Result<std::string> RealPlatform::probe_fstype(const std::string& device_or_file) {
    return sys::probe_fstype(device_or_file);
}

void RealPlatform::load_module(const std::string& name) {
    if (modules_) (void)modules_->load(name);  // built-in or absent: the mount will tell
}

bool RealPlatform::file_exists(const std::string& path) {
    // O_PATH: nothing is opened for reading, so nothing can block; the type comes from the fd.
    auto fd = sys::open_no_symlinks(AT_FDCWD, path, O_PATH | O_NOFOLLOW);
    struct stat st;
    return fd && ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<AttachedImage> RealPlatform::attach_loop(const std::string& file) {
    load_module("loop");  // /dev/loop-control exists once the driver is in
    sys::LoopDevice loop = TRY(sys::attach_loop(file, true));
    // The device has autoclear: once our fd is closed and its filesystem unmounted, it is gone.
    auto holder = std::make_shared<sys::UniqueFd>(std::move(loop.fd));
    return AttachedImage{loop.path, Undo([holder] { holder->reset(); })};
}

Result<Dir> RealPlatform::open_dir(const std::string& path) {
    sys::UniqueFd fd = TRY(sys::open_dir(path, O_PATH));
    return Dir{std::move(fd), path};
}

Result<Dir> RealPlatform::open_in_root(const Dir& root, const std::string& path, bool want_dir) {
    int flags = O_PATH | O_CLOEXEC | (want_dir ? O_DIRECTORY : 0);
    sys::UniqueFd fd = TRY(sys::open_in_root(root.fd.get(), path, flags));
    return Dir{std::move(fd), join_path(root.path, path)};
}

Result<Dir> RealPlatform::open_mount_point(const Dir& root, const std::string& path) {
    Dir dir = TRY(open_in_root(root, path, true));
    std::string root_at = real_path_of(root.fd.get(), root.path);
    std::string landed = real_path_of(dir.fd.get(), dir.path);
    std::string expected = path == "/" ? root_at : (root_at == "/" ? "" : root_at) + path;
    if (landed != expected) {
        std::string inside = landed.compare(0, root_at.size(), root_at) == 0
                                 ? landed.substr(root_at == "/" ? 0 : root_at.size())
                                 : landed;
        return fail(ELOOP, "'" + path + "' resolves to '" + inside +
                               "' through a symlink: refusing to mount there");
    }
    return dir;
}

Result<void> RealPlatform::check_executable(const Dir& root, const std::string& path) {
    sys::UniqueFd fd = TRY(
        sys::open_checked(root.fd.get(), path, sys::Scope::kImage, sys::Want::kFile, O_PATH));
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) return fail_errno("fstat", join_path(root.path, path));
    if (!(st.st_mode & 0111)) return fail(EACCES, "'" + path + "' is not executable");
    return ok();
}

Result<std::string> RealPlatform::read_in_root(const Dir& root, const std::string& path,
                                               size_t max_bytes) {
    return sys::read_checked(root.fd.get(), path, sys::Scope::kImage, max_bytes);
}

Result<std::string> RealPlatform::read_on_partition(const Dir& root, const std::string& rel,
                                                    size_t max_bytes) {
    return sys::read_checked(root.fd.get(), rel, sys::Scope::kPartition, max_bytes);
}

Result<Dir> RealPlatform::make_dirs(const Dir& base, const std::string& rel) {
    sys::UniqueFd fd = TRY(sys::mkdir_p_beneath(base.fd.get(), strip_slash(rel), 0755));
    return Dir{std::move(fd), join_path(base.path, rel)};
}

Result<Dir> RealPlatform::make_persist_dir(const Dir& persist_root, const std::string& rel_in,
                                           const Dir* seed) {
    std::string rel = strip_slash(rel_in);
    auto existing = sys::open_beneath_no_symlinks(persist_root.fd.get(), rel,
                                                  O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (existing) return Dir{std::move(*existing), join_path(persist_root.path, rel)};
    if (existing.error().code != ENOENT || !seed) return make_dirs(persist_root, rel);

    // First use with seeding: copy the image's directory into a staging directory, then rename
    // it into place, so a power cut mid-copy leaves no half-seeded persistent directory.
    static std::atomic<unsigned> counter{0};
    std::string staging_name = ".seed/" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter++);
    Dir staging = TRY(make_dirs(persist_root, staging_name));
    sys::UniqueFd src = TRY(reopen_dir(*seed));
    sys::UniqueFd dst = TRY(reopen_dir(staging));
    TRY_CTX(sys::copy_tree(src.get(), dst.get()), "seeding '" + rel + "' from the image");
    auto slash = rel.rfind('/');
    std::string parent_rel = slash == std::string::npos ? "" : rel.substr(0, slash);
    std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
    Dir parent = parent_rel.empty() ? Dir{sys::UniqueFd(::fcntl(persist_root.fd.get(),
                                                                F_DUPFD_CLOEXEC, 0)),
                                          persist_root.path}
                                    : TRY(make_dirs(persist_root, parent_rel));
    if (::renameat(persist_root.fd.get(), staging_name.c_str(), parent.fd.get(), leaf.c_str()) < 0)
        return fail_errno("renameat", join_path(persist_root.path, rel));
    if (::fsync(dst.get()) < 0) return fail_errno("fsync", join_path(persist_root.path, rel));
    sys::UniqueFd parent_dir = TRY(reopen_dir(parent));
    if (::fsync(parent_dir.get()) < 0) return fail_errno("fsync", parent.path);
    sys::UniqueFd fd = TRY(sys::open_beneath_no_symlinks(persist_root.fd.get(), rel,
                                                         O_PATH | O_DIRECTORY | O_CLOEXEC));
    return Dir{std::move(fd), join_path(persist_root.path, rel)};
}

Result<std::string> RealPlatform::read_file(const std::string& path, size_t max_bytes) {
    return sys::read_file(path, max_bytes);
}

Result<void> RealPlatform::write_file_atomic(const Dir& dir, const std::string& name,
                                             const std::string& content) {
    sys::UniqueFd fd = TRY(reopen_dir(dir));
    return sys::write_file_atomic(fd.get(), name, content);
}

Result<void> RealPlatform::write_file(const std::string& path, const std::string& content) {
    return sys::write_file(path, content);
}

Result<Undo> RealPlatform::mount_path(const std::string& source, const std::string& target,
                                      const std::string& fstype, unsigned long flags,
                                      const std::string& data) {
    Dir root = TRY(open_dir("/"));
    (void)TRY(make_dirs(root, target));
    TRY(sys::mount(source, target, fstype, flags, data));
    return unmount_undo(target);
}

Result<Undo> RealPlatform::mount_on(const std::string& source, const Dir& target,
                                    const std::string& fstype, unsigned long flags,
                                    const std::string& data) {
    std::string where = real_path_of(target.fd.get(), target.path);
    TRY(sys::mount_on_fd(source, target.fd.get(), fstype, flags, data, target.path));
    return unmount_undo(where);
}

Result<Undo> RealPlatform::mount_overlay(const Dir& lower, const Dir& upper, const Dir& work,
                                         const Dir& target, unsigned long flags,
                                         const std::string& options) {
    // Directories go to overlayfs as /proc/self/fd/N: no path from the image or the persistent
    // partition is ever spliced into the option string (no ',' ':' '\' injection), and the
    // directories are the ones already resolved safely. index=off: the lower layer changes with
    // every update, which the overlay index would otherwise reject.
    std::string data = "lowerdir=" + sys::fd_path(lower.fd.get()) +
                       ",upperdir=" + sys::fd_path(upper.fd.get()) +
                       ",workdir=" + sys::fd_path(work.fd.get()) + ",index=off";
    // The spec's own overlay options (redirect_dir=, xino=, ...): the planner has refused paths,
    // separators and control characters in them.
    if (!options.empty()) data += "," + options;
    load_module("fs-overlay");
    return mount_on("overlay", target, "overlay", flags, data);
}

Result<Undo> RealPlatform::bind(const Dir& source, const Dir& target, unsigned long flags) {
    std::string where = real_path_of(target.fd.get(), target.path);
    TRY(sys::bind_fds(source.fd.get(), target.fd.get(), flags, source.path, target.path));
    return unmount_undo(where);
}

Result<std::vector<std::string>> RealPlatform::list_executables(const std::string& dir) {
    std::vector<std::string> names;
    auto fd = sys::open_checked(AT_FDCWD, dir, sys::Scope::kHost, sys::Want::kDir, O_RDONLY);
    if (!fd) {
        if (fd.error().code == ENOENT) return names;
        return Unexpected(std::move(fd).error());
    }
    DIR* d = ::fdopendir(fd->get());
    if (!d) return fail_errno("opendir", dir);
    fd->release();  // the DIR owns it now
    while (struct dirent* de = ::readdir(d)) {
        struct stat st;
        // stat, not lstat: a hook may be a symlink to a shared script.
        if (::fstatat(::dirfd(d), de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode) &&
            (st.st_mode & 0111))
            names.emplace_back(de->d_name);
    }
    ::closedir(d);
    return names;
}

Result<sys::ProcessResult> RealPlatform::run_program(const std::vector<std::string>& argv,
                                                     const std::vector<std::string>& env,
                                                     std::chrono::milliseconds limit,
                                                     size_t capture_bytes) {
    return sys::run_process(argv, env, limit, capture_bytes);
}

}  // namespace imageinit::boot
