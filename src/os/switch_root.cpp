// switch_root for an initramfs: rootfs cannot be pivot_root'ed away, so the new root is moved
// over "/" and chroot'ed into, and the initramfs content is deleted to give its memory back.
#include "os/switch_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "base/c_handle.h"
#include "base/unique_fd.h"
#include "os/mount.h"

namespace imageinit::os {
namespace {

constexpr const char* kMovedMounts[] = {"/dev", "/proc", "/sys", "/run"};
constexpr int kMaxDepth = 64;

// Deletes everything below dir_fd that is on device `dev`, best effort: a file we cannot
// delete only costs memory. Mount points (another st_dev) are never entered.
void remove_contents(int dir_fd, dev_t dev, int depth) {
    if (depth > kMaxDepth) return;
    int dfd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    CHandle<DIR, ::closedir> dir(::fdopendir(dfd));
    if (!dir) {
        ::close(dfd);
        return;
    }
    while (struct dirent* de = ::readdir(dir.get())) {
        const char* name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        struct stat st;
        if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) continue;  // a mount point, or a mount below it
            UniqueFd sub(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) continue;
            // Re-check on the opened directory: a mount on it shows only after the open.
            struct stat sub_st;
            if (::fstat(sub.get(), &sub_st) < 0 || sub_st.st_dev != dev) continue;
            remove_contents(sub.get(), dev, depth + 1);
            (void)::unlinkat(dir_fd, name, AT_REMOVEDIR);
        } else if (st.st_dev == dev) {
            (void)::unlinkat(dir_fd, name, 0);
        }
    }
}

}  // namespace

Result<void> switch_root(const std::string& new_root) {
    struct stat root_st, new_st;
    if (::stat("/", &root_st) < 0) return fail_errno("stat", "/");
    if (::stat(new_root.c_str(), &new_st) < 0) return fail_errno("stat", new_root);
    // Deleting the old root while the new one is not a mount of its own would delete the new
    // root too.
    if (new_st.st_dev == root_st.st_dev)
        return fail(EINVAL, "switch root: '" + new_root + "' is not a mount point");

    // A shared "/" would propagate the moves below and the kernel refuses MS_MOVE out of a
    // shared parent (mount_namespaces(7), "MS_MOVE and shared mounts").
    TRY(make_private_recursive("/"));

    // Every target must exist in the image before anything moves: a half-moved /dev is worse
    // than a refused switch.
    for (const char* m : kMovedMounts) {
        std::string target = new_root + m;
        struct stat st;
        if (::stat(target.c_str(), &st) < 0) return fail_errno("stat", target);
        if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, "'" + target + "' is not a directory");
    }
    for (const char* m : kMovedMounts) {
        struct stat st;
        // Only what is mounted moves: a directory on rootfs has nothing to carry over.
        if (::stat(m, &st) < 0 || st.st_dev == root_st.st_dev) continue;
        TRY(move_mount(m, new_root + m));
    }

    if (::chdir(new_root.c_str()) < 0) return fail_errno("chdir", new_root);
    UniqueFd old_root(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!old_root) return fail_errno("open", "/");
    struct statfs sfs;
    if (::fstatfs(old_root.get(), &sfs) < 0) return fail_errno("statfs", "/");

    TRY(move_mount(".", "/"));
    if (::chroot(".") < 0) return fail_errno("chroot", new_root);
    if (::chdir("/") < 0) return fail_errno("chdir", "/");

    // Free the initramfs, as util-linux switch_root does, and only when it is the RAM-backed
    // rootfs: on any other filesystem (a dracut-like setup, a test) it would destroy data.
    if (sfs.f_type == RAMFS_MAGIC || sfs.f_type == TMPFS_MAGIC)
        remove_contents(old_root.get(), root_st.st_dev, 0);
    return ok();
}

}  // namespace imageinit::os
