// Bounded reads, plain writes, and copy_tree: an fd-based recursive copy that never follows a
// symlink and keeps owners, modes, timestamps and (best effort) xattrs.
#include "os/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/c_handle.h"

namespace imageinit::os {
namespace {

// A seeded directory comes from an image; anything deeper than this is a broken or hostile tree.
constexpr int kMaxDepth = 128;

}  // namespace

Result<std::string> read_fd(int fd, size_t max_bytes, const std::string& shown) {
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read", shown);
        }
        if (n == 0) break;
        if (out.size() + static_cast<size_t>(n) > max_bytes) {
            errno = EFBIG;
            return fail_errno("read", shown);
        }
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

namespace {

std::string join_path(const std::string& dir, const char* name) {
    return dir.empty() ? std::string(name) : dir + "/" + name;
}

// Extended attributes (SELinux labels, ACLs, capabilities) where both sides support them. A
// target filesystem without xattrs, or a namespace we may not write, is not a reason to fail
// the seeding of a directory.
void copy_xattrs(int src, int dst) {
    ssize_t len = ::flistxattr(src, nullptr, 0);
    if (len <= 0) return;
    std::vector<char> names(static_cast<size_t>(len));
    len = ::flistxattr(src, names.data(), names.size());
    if (len <= 0) return;
    std::vector<char> value;
    for (ssize_t i = 0; i < len;) {
        const char* name = names.data() + i;
        i += static_cast<ssize_t>(strlen(name)) + 1;
        ssize_t vlen = ::fgetxattr(src, name, nullptr, 0);
        if (vlen < 0) continue;
        value.resize(static_cast<size_t>(vlen));
        vlen = ::fgetxattr(src, name, value.data(), value.size());
        if (vlen < 0) continue;
        (void)::fsetxattr(dst, name, value.data(), static_cast<size_t>(vlen), 0);
    }
}

// Owner first: chown clears set-user-ID bits, so the mode goes after it.
Result<void> copy_meta_fd(int dst, const struct stat& st, const std::string& shown) {
    if (::fchown(dst, st.st_uid, st.st_gid) < 0) return fail_errno("chown", shown);
    if (::fchmod(dst, st.st_mode & 07777) < 0) return fail_errno("chmod", shown);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(dst, times) < 0) return fail_errno("utimensat", shown);
    return ok();
}

Result<void> copy_file(int src_dir, int dst_dir, const char* name, const struct stat& st,
                       const std::string& shown) {
    // O_NONBLOCK and a second look on the fd: a file swapped for a fifo after the fstatat of the
    // walk must not block the copy.
    UniqueFd in(::openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!in) return fail_errno("open", shown);
    struct stat now;
    if (::fstat(in.get(), &now) < 0) return fail_errno("fstat", shown);
    if (!S_ISREG(now.st_mode)) return fail(EINVAL, "'" + shown + "' is no longer a regular file");
    UniqueFd out(
        ::openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return fail_errno("create", shown);
    for (;;) {
        // copy_file_range shares extents where it can and needs no buffer; it copies between
        // any two filesystems since Linux 5.19 and we fall back to read/write before that.
        ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
        if (n == 0) break;
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return fail_errno("copy", shown);
        char buf[65536];
        for (;;) {
            ssize_t r = ::read(in.get(), buf, sizeof(buf));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return fail_errno("read", shown);
            if (r == 0) break;
            TRY(write_all(out.get(), std::string_view(buf, static_cast<size_t>(r)), shown));
        }
        break;
    }
    copy_xattrs(in.get(), out.get());
    return copy_meta_fd(out.get(), st, shown);
}

Result<void> copy_symlink(int src_dir, int dst_dir, const char* name, const struct stat& st,
                          const std::string& shown) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 2);
    ssize_t n = ::readlinkat(src_dir, name, target.data(), target.size());
    if (n < 0) return fail_errno("readlink", shown);
    if (static_cast<size_t>(n) >= target.size()) {  // changed under us
        errno = ENAMETOOLONG;
        return fail_errno("readlink", shown);
    }
    target[static_cast<size_t>(n)] = '\0';
    if (::symlinkat(target.data(), dst_dir, name) < 0) return fail_errno("symlink", shown);
    if (::fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return fail_errno("chown", shown);
    // A symlink's mode is fixed by Linux; its xattrs are skipped (no fd to read them through).
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(dst_dir, name, times, AT_SYMLINK_NOFOLLOW) < 0)
        return fail_errno("utimensat", shown);
    return ok();
}

Result<void> copy_dir(int src, int dst, const std::string& rel, int depth) {
    if (depth > kMaxDepth) {
        errno = ELOOP;
        return fail_errno("copy", rel.empty() ? "." : rel);
    }
    // fdopendir takes over the fd: give it its own, reopened so the offset is fresh.
    int dfd = ::openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return fail_errno("open", rel.empty() ? "." : rel);
    CHandle<DIR, ::closedir> dir(::fdopendir(dfd));
    if (!dir) {
        ::close(dfd);
        return fail_errno("opendir", rel.empty() ? "." : rel);
    }
    for (;;) {
        errno = 0;
        struct dirent* de = ::readdir(dir.get());
        if (!de) {
            if (errno != 0) return fail_errno("readdir", rel.empty() ? "." : rel);
            break;
        }
        const char* name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        std::string shown = join_path(rel, name);
        struct stat st;
        if (::fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return fail_errno("stat", shown);
        if (S_ISREG(st.st_mode)) {
            TRY(copy_file(src, dst, name, st, shown));
        } else if (S_ISLNK(st.st_mode)) {
            TRY(copy_symlink(src, dst, name, st, shown));
        } else if (S_ISDIR(st.st_mode)) {
            if (::mkdirat(dst, name, 0700) < 0) return fail_errno("mkdir", shown);
            UniqueFd sub_src(::openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub_src) return fail_errno("open", shown);
            UniqueFd sub_dst(::openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub_dst) return fail_errno("open", shown);
            TRY(copy_dir(sub_src.get(), sub_dst.get(), shown, depth + 1));
            // After the content: a read-only mode must not block the copy into the directory,
            // and writing the content changes the directory's mtime.
            copy_xattrs(sub_src.get(), sub_dst.get());
            TRY(copy_meta_fd(sub_dst.get(), st, shown));
        }
        // Device nodes, fifos and sockets are skipped: a persistent directory seeded from an
        // image has no use for them, and nodev on the persistent partition would defeat them.
    }
    return ok();
}

Result<void> remove_below(int dir_fd, const std::string& shown, int depth) {
    if (depth > kMaxDepth) {
        errno = ELOOP;
        return fail_errno("remove", shown);
    }
    int dfd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return fail_errno("open", shown);
    CHandle<DIR, ::closedir> dir(::fdopendir(dfd));
    if (!dir) {
        ::close(dfd);
        return fail_errno("opendir", shown);
    }
    for (;;) {
        errno = 0;
        struct dirent* de = ::readdir(dir.get());
        if (!de) {
            if (errno != 0) return fail_errno("readdir", shown);
            break;
        }
        const char* name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        std::string sub = join_path(shown, name);
        if (::unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT) continue;
        if (errno != EISDIR && errno != EPERM) return fail_errno("unlink", sub);
        // A directory (unlink(2) says EISDIR, or EPERM on some filesystems): empty it through
        // an fd opened without following a symlink, then remove it.
        UniqueFd child(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child) return fail_errno("open", sub);
        TRY(remove_below(child.get(), sub, depth + 1));
        if (::unlinkat(dir_fd, name, AT_REMOVEDIR) < 0) return fail_errno("rmdir", sub);
    }
    return ok();
}

}  // namespace

Result<void> remove_tree_at(int dir_fd, const std::string& name, const std::string& shown) {
    if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return ok();
    if (errno != EISDIR && errno != EPERM) return fail_errno("unlink", shown);
    UniqueFd dir(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return fail_errno("open", shown);
    TRY(remove_below(dir.get(), shown, 0));
    if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) < 0) return fail_errno("rmdir", shown);
    return ok();
}

Result<void> write_all(int fd, std::string_view data, const std::string& shown) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("write", shown);
        }
        if (n == 0) return fail(EIO, "write '" + shown + "': no progress");
        data.remove_prefix(static_cast<size_t>(n));
    }
    return ok();
}

Result<UniqueFd> open_dir(const std::string& path, int extra_flags) {
    int flags = O_DIRECTORY | O_CLOEXEC | extra_flags;
    if (!(flags & O_PATH)) flags |= O_RDONLY;
    UniqueFd fd(::open(path.c_str(), flags));
    if (!fd) return fail_errno("open", path);
    return fd;
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return fail_errno("open", path);
    return read_fd(fd.get(), max_bytes, path);
}

Result<void> write_file(const std::string& path, const std::string& content, unsigned mode) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode));
    if (!fd) return fail_errno("open", path);
    TRY(write_all(fd.get(), content, path));
    if (::close(fd.release()) < 0) return fail_errno("close", path);
    return ok();
}

Result<void> copy_tree(int src_dir_fd, int dst_dir_fd) {
    // Reopened readable so O_PATH fds work too (fchmod and the xattr calls refuse O_PATH).
    UniqueFd src(::openat(src_dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src) return fail_errno("open", "source directory");
    UniqueFd dst(::openat(dst_dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dst) return fail_errno("open", "target directory");
    TRY(copy_dir(src.get(), dst.get(), "", 0));
    // The top directory takes the source's attributes too: seeding reproduces the image's
    // directory, not just its content.
    struct stat st;
    if (::fstat(src.get(), &st) < 0) return fail_errno("stat", "source directory");
    copy_xattrs(src.get(), dst.get());
    return copy_meta_fd(dst.get(), st, ".");
}

}  // namespace imageinit::os
