// fd-relative file operations for the cache and the staging tree. Every open uses O_NOFOLLOW and
// every stat AT_SYMLINK_NOFOLLOW: the trees hold untrusted symlinks.
#include "compose/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "compose/tree_walk.h"

namespace imageinit::compose {
namespace {

Result<std::vector<std::string>> list_xattrs(int fd, const std::string& what) {
    std::vector<std::string> names;
    ssize_t len = ::flistxattr(fd, nullptr, 0);
    if (len < 0) {
        if (errno == ENOTSUP) return names;
        return fail_errno("flistxattr", what);
    }
    std::string buf(static_cast<size_t>(len), '\0');
    len = ::flistxattr(fd, buf.data(), buf.size());
    if (len < 0) return fail_errno("flistxattr", what);
    for (size_t pos = 0; pos < static_cast<size_t>(len);) {
        std::string name(buf.c_str() + pos);
        pos += name.size() + 1;
        if (!name.empty()) names.push_back(std::move(name));
    }
    return names;
}

Result<void> copy_xattrs_fd(int src, int dst, const std::string& what) {
    for (const std::string& name : TRY(list_xattrs(dst, what))) {
        if (::fremovexattr(dst, name.c_str()) != 0 && errno != ENODATA)
            return fail_errno("fremovexattr " + name, what);
    }
    for (const std::string& name : TRY(list_xattrs(src, what))) {
        ssize_t len = ::fgetxattr(src, name.c_str(), nullptr, 0);
        if (len < 0) return fail_errno("fgetxattr " + name, what);
        std::string value(static_cast<size_t>(len), '\0');
        len = ::fgetxattr(src, name.c_str(), value.data(), value.size());
        if (len < 0) return fail_errno("fgetxattr " + name, what);
        if (::fsetxattr(dst, name.c_str(), value.data(), static_cast<size_t>(len), 0) != 0)
            return fail_errno("fsetxattr " + name, what);
    }
    return ok();
}

}  // namespace

Result<UniqueFd> open_dir_at(int dirfd, const std::string& name) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail_errno("open", name);
    return fd;
}

Result<UniqueFd> open_dir(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return fail_errno("open", path);
    return fd;
}

Result<UniqueFd> walk_dir(int root_fd, const std::string& rel) {
    UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (!cur) return fail_errno("dup", rel);
    size_t pos = 0;
    while (pos < rel.size()) {
        size_t end = std::min(rel.find('/', pos), rel.size());
        std::string part = rel.substr(pos, end - pos);
        pos = end + 1;
        UniqueFd next(
            ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) {
            if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return UniqueFd();
            return fail_errno("open", rel);
        }
        cur = std::move(next);
    }
    return cur;
}

Result<std::vector<std::string>> list_dir(int dirfd) {
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return fail_errno("dup", "");
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        return fail_errno("fdopendir", "");
    }
    ::rewinddir(d);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

namespace {

// Unlinks files as they are visited and directories once they are empty (when left).
class Remover : public TreeVisitor {
  public:
    Result<bool> visit(const WalkEntry& e) override {
        if (S_ISDIR(e.st.st_mode)) return true;
        if (::unlinkat(e.dirfd, e.name.c_str(), 0) != 0 && errno != ENOENT)
            return fail_errno("unlink", e.path);
        return false;
    }
    Result<void> leave(const WalkEntry& e) override {
        if (::unlinkat(e.dirfd, e.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
            return fail_errno("rmdir", e.path);
        return ok();
    }
};

}  // namespace

Result<void> remove_children(int dirfd) {
    Remover remover;
    return walk_tree(dirfd, remover);
}

Result<void> remove_at(int dirfd, const std::string& name) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return ok();
        return fail_errno("stat", name);
    }
    if (S_ISDIR(st.st_mode)) {
        UniqueFd sub = TRY(open_dir_at(dirfd, name));
        TRY_CTX(remove_children(sub.get()), name);
    }
    if (::unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
        errno != ENOENT)
        return fail_errno("unlink", name);
    return ok();
}

Result<void> remove_tree(const std::string& path) {
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    UniqueFd dir = TRY(open_dir(parent));
    return add_context(remove_at(dir.get(), name), path);
}

Result<void> mkdir_p(const std::string& path, mode_t mode) {
    std::string cur;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = std::min(path.find('/', pos), path.size());
        cur = path.substr(0, end);
        pos = end + 1;
        if (cur.empty()) continue;
        if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return fail_errno("mkdir", cur);
    }
    return ok();
}

Result<void> copy_metadata(int src_dir, const std::string& src_name, const struct stat& st,
                           int dst_dir, const std::string& dst_name) {
    if (::fchownat(dst_dir, dst_name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return fail_errno("chown", dst_name);
    if (S_ISLNK(st.st_mode)) return ok();  // symlink modes are fixed; xattrs on them are rare
    if (::fchmodat(dst_dir, dst_name.c_str(), st.st_mode & 07777, 0) != 0)
        return fail_errno("chmod", dst_name);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return ok();  // devices: no fd to open
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
    UniqueFd src(::openat(src_dir, src_name.c_str(), flags));
    if (!src) return fail_errno("open", src_name);
    UniqueFd dst(::openat(dst_dir, dst_name.c_str(), flags));
    if (!dst) return fail_errno("open", dst_name);
    return copy_xattrs_fd(src.get(), dst.get(), dst_name);
}

Result<void> copy_node(int src_dir, const std::string& name, const struct stat& st, int dst_dir) {
    if (S_ISREG(st.st_mode)) {
        UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!in) return fail_errno("open", name);
        UniqueFd out(::openat(dst_dir, name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) return fail_errno("create", name);
        for (off_t left = st.st_size; left > 0;) {
            ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                          static_cast<size_t>(left), 0);
            if (n < 0) return fail_errno("copy_file_range", name);
            if (n == 0) break;
            left -= n;
        }
    } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
        if (n < 0) return fail_errno("readlink", name);
        target.resize(static_cast<size_t>(n));
        if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0)
            return fail_errno("symlink", name);
    } else {
        if (::mknodat(dst_dir, name.c_str(), st.st_mode, st.st_rdev) != 0)
            return fail_errno("mknod", name);
    }
    return copy_metadata(src_dir, name, st, dst_dir, name);
}

}  // namespace imageinit::compose
