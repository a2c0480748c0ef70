// RealDevices, RealMounts and RealProcesses (see real_platform.h): each method is a short
// composition of os:: calls.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "base/log.h"
#include "boot/real_platform.h"
#include "os/blkid.h"
#include "os/files.h"
#include "os/loop.h"
#include "os/mount.h"
#include "os/resolve.h"
#include "os/safe_open.h"

namespace imageinit::boot {
namespace {

Undo unmount_undo(std::string path) {
    return Undo([path = std::move(path)] { (void)os::umount(path, MNT_DETACH); });
}

std::string strip_slash(const std::string& p) {
    size_t i = 0;
    while (i < p.size() && p[i] == '/') ++i;
    return p.substr(i);
}

}  // namespace

Result<std::vector<std::string>> RealDevices::find_devices(const std::string& spec) {
    return os::find_devices(spec);
}

Result<std::string> RealDevices::whole_disk_of(const std::string& device) {
    return os::whole_disk_of(device);
}

Result<void> RealDevices::wait_until(const std::function<bool()>& ready, Clock::time_point deadline,
                                     const std::string& what) {
    if (ready()) return ok();
    if (!waiter_) return fail(ENODEV, what + " not found");
    // Said once, so a console that seems stuck tells why (and the hot-plug test knows when to
    // plug: qemu/harness.py).
    auto left = std::chrono::ceil<std::chrono::seconds>(deadline - Clock::now()).count();
    log::info("waiting up to " + std::to_string(left < 0 ? 0 : left) + " s for " + what);
    return waiter_->wait_until(ready, deadline, what);
}

Result<std::string> RealDevices::probe_fstype(const std::string& device_or_file) {
    return os::probe_fstype(device_or_file);
}

void RealDevices::load_module(const std::string& name) {
    if (modules_) (void)modules_->load(name);  // built-in or absent: the mount will tell
}

Result<AttachedImage> RealMounts::attach_loop(const std::string& file) {
    devices_.load_module("loop");  // /dev/loop-control exists once the driver is in
    os::LoopDevice loop = TRY(os::attach_loop(file, true));
    // The device has autoclear: once our fd is closed and its filesystem unmounted, it is gone.
    auto holder = std::make_shared<UniqueFd>(std::move(loop.fd));
    return AttachedImage{loop.path, Undo([holder] { holder->reset(); })};
}

Result<Undo> RealMounts::mount_path(const std::string& source, const std::string& target,
                                    const std::string& fstype, unsigned long flags,
                                    const std::string& data) {
    UniqueFd root = TRY(os::open_dir("/", O_PATH));
    (void)TRY(os::mkdir_p_beneath(root.get(), strip_slash(target), 0755));
    TRY(os::mount(source, target, fstype, flags, data));
    return unmount_undo(target);
}

Result<Undo> RealMounts::mount_on(const std::string& source, const Dir& target,
                                  const std::string& fstype, unsigned long flags,
                                  const std::string& data) {
    std::string where = os::real_path_of(target.fd.get(), target.path);
    TRY(os::mount_on_fd(source, target.fd.get(), fstype, flags, data, target.path));
    return unmount_undo(where);
}

Result<Undo> RealMounts::mount_overlay(const Dir& lower, const Dir& upper, const Dir& work,
                                       const Dir& target, unsigned long flags,
                                       const std::string& options) {
    // Directories go to overlayfs as /proc/self/fd/N: no path from the image or the persistent
    // partition is ever spliced into the option string (no ',' ':' '\' injection), and the
    // directories are the ones already resolved safely. index=off: the lower layer changes with
    // every update, which the overlay index would otherwise reject.
    std::string data = "lowerdir=" + os::fd_path(lower.fd.get()) +
                       ",upperdir=" + os::fd_path(upper.fd.get()) +
                       ",workdir=" + os::fd_path(work.fd.get()) + ",index=off";
    // The spec's own overlay options (redirect_dir=, xino=, ...): the planner has refused paths,
    // separators and control characters in them.
    if (!options.empty()) data += "," + options;
    devices_.load_module("fs-overlay");
    return mount_on("overlay", target, "overlay", flags, data);
}

Result<Undo> RealMounts::bind(const Dir& source, const Dir& target, unsigned long flags) {
    std::string where = os::real_path_of(target.fd.get(), target.path);
    TRY(os::bind_fds(source.fd.get(), target.fd.get(), flags, source.path, target.path));
    return unmount_undo(where);
}

Result<std::vector<std::string>> RealProcesses::list_executables(const std::string& dir) {
    std::vector<std::string> names;
    auto fd = os::open_checked(AT_FDCWD, dir, os::Scope::kHost, os::Want::kDir, O_RDONLY);
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

Result<os::ProcessResult> RealProcesses::run_program(const std::vector<std::string>& argv,
                                                     const std::vector<std::string>& env,
                                                     std::chrono::milliseconds limit,
                                                     size_t capture_bytes) {
    return os::run_process(argv, env, limit, capture_bytes);
}

}  // namespace imageinit::boot
