// RealRootFs (see real_platform.h): directory-relative file access over os::safe_open and
// os::resolve; the rules it applies (landing, seed staging) are core/boot_policy.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "boot/real_platform.h"
#include "core/boot_policy.h"
#include "os/atomic_file.h"
#include "os/files.h"
#include "os/mount.h"
#include "os/resolve.h"
#include "os/safe_open.h"

namespace imageinit::boot {
namespace {

std::string strip_slash(const std::string& p) {
    size_t i = 0;
    while (i < p.size() && p[i] == '/') ++i;
    return p.substr(i);
}

std::string join_path(const std::string& base, const std::string& rel) {
    return base + (base.ends_with("/") ? "" : "/") + strip_slash(rel);
}

// A directory fd that fsync and getdents work on (O_PATH fds do not support them).
Result<UniqueFd> reopen_dir(const Dir& dir) {
    int fd = ::openat(dir.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail_errno("openat", dir.path);
    return UniqueFd(fd);
}

}  // namespace

bool RealRootFs::file_exists(const std::string& path) {
    // O_PATH: nothing is opened for reading, so nothing can block; the type comes from the fd.
    auto fd = os::open_no_symlinks(AT_FDCWD, path, O_PATH | O_NOFOLLOW);
    struct stat st;
    return fd && ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<Dir> RealRootFs::open_dir(const std::string& path) {
    UniqueFd fd = TRY(os::open_dir(path, O_PATH));
    return Dir{std::move(fd), path};
}

Result<Dir> RealRootFs::open_in_root(const Dir& root, const std::string& path, bool want_dir) {
    int flags = O_PATH | O_CLOEXEC | (want_dir ? O_DIRECTORY : 0);
    UniqueFd fd = TRY(os::open_in_root(root.fd.get(), path, flags));
    return Dir{std::move(fd), join_path(root.path, path)};
}

Result<Dir> RealRootFs::open_mount_point(const Dir& root, const std::string& path) {
    Dir dir = TRY(open_in_root(root, path, true));
    std::string root_at = os::real_path_of(root.fd.get(), root.path);
    std::string landed = os::real_path_of(dir.fd.get(), dir.path);
    TRY(core::check_landing(path, root_at, landed));
    return dir;
}

Result<void> RealRootFs::check_executable(const Dir& root, const std::string& path) {
    UniqueFd fd =
        TRY(os::open_checked(root.fd.get(), path, os::Scope::kImage, os::Want::kFile, O_PATH));
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) return fail_errno("fstat", join_path(root.path, path));
    if (!(st.st_mode & 0111)) return fail(EACCES, "'" + path + "' is not executable");
    return ok();
}

Result<std::string> RealRootFs::read_in_root(const Dir& root, const std::string& path,
                                             size_t max_bytes) {
    return os::read_checked(root.fd.get(), path, os::Scope::kImage, max_bytes);
}

Result<std::string> RealRootFs::read_on_partition(const Dir& root, const std::string& rel,
                                                  size_t max_bytes) {
    return os::read_checked(root.fd.get(), rel, os::Scope::kPartition, max_bytes);
}

Result<Dir> RealRootFs::make_dirs(const Dir& base, const std::string& rel) {
    UniqueFd fd = TRY(os::mkdir_p_beneath(base.fd.get(), strip_slash(rel), 0755));
    return Dir{std::move(fd), join_path(base.path, rel)};
}

Result<Dir> RealRootFs::make_persist_dir(const Dir& persist_root, const std::string& rel_in,
                                         const Dir* seed) {
    std::string rel = strip_slash(rel_in);
    auto existing =
        os::open_beneath_no_symlinks(persist_root.fd.get(), rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (existing) return Dir{std::move(*existing), join_path(persist_root.path, rel)};
    if (existing.error().code != ENOENT || !seed) return make_dirs(persist_root, rel);

    // First use with seeding: copy the image's directory into a staging directory, then rename
    // it into place, so a power cut mid-copy leaves no half-seeded persistent directory.
    static std::atomic<unsigned> counter{0};
    core::SeedStaging s = core::seed_staging(rel, ::getpid(), counter++);
    Dir staging = TRY(make_dirs(persist_root, s.staging));
    UniqueFd src = TRY(reopen_dir(*seed));
    UniqueFd dst = TRY(reopen_dir(staging));
    TRY_CTX(os::copy_tree(src.get(), dst.get()), "seeding '" + rel + "' from the image");
    Dir parent =
        s.parent.empty()
            ? Dir{UniqueFd(::fcntl(persist_root.fd.get(), F_DUPFD_CLOEXEC, 0)), persist_root.path}
            : TRY(make_dirs(persist_root, s.parent));
    if (::renameat(persist_root.fd.get(), s.staging.c_str(), parent.fd.get(), s.leaf.c_str()) < 0)
        return fail_errno("renameat", join_path(persist_root.path, rel));
    if (::fsync(dst.get()) < 0) return fail_errno("fsync", join_path(persist_root.path, rel));
    UniqueFd parent_dir = TRY(reopen_dir(parent));
    if (::fsync(parent_dir.get()) < 0) return fail_errno("fsync", parent.path);
    UniqueFd fd = TRY(
        os::open_beneath_no_symlinks(persist_root.fd.get(), rel, O_PATH | O_DIRECTORY | O_CLOEXEC));
    return Dir{std::move(fd), join_path(persist_root.path, rel)};
}

Result<std::string> RealRootFs::read_file(const std::string& path, size_t max_bytes) {
    return os::read_file(path, max_bytes);
}

Result<void> RealRootFs::write_file_atomic(const Dir& dir, const std::string& name,
                                           const std::string& content) {
    UniqueFd fd = TRY(reopen_dir(dir));
    return os::write_file_atomic(fd.get(), name, content);
}

Result<void> RealRootFs::write_file(const std::string& path, const std::string& content) {
    return os::write_file(path, content);
}

Result<std::string> RealRootFs::read_head_in_root(const Dir& root, const std::string& path,
                                                  size_t max_bytes) {
    return os::read_head_checked(root.fd.get(), path, os::Scope::kImage, max_bytes);
}

}  // namespace imageinit::boot
