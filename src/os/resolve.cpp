// Path resolution that cannot leave a root: openat2(2) scoping flags, and a mkdir walk that
// opens each component it creates without following symlinks.
#include "os/resolve.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

namespace imageinit::os {
namespace {

// openat2 may fail with EAGAIN when a concurrent rename or mount could have let a ".." step
// escape (openat2(2), RESOLVE_IN_ROOT / RESOLVE_BENEATH). Retrying is what the man page asks;
// the bound keeps a hostile loop of renames from hanging the boot.
constexpr int kMaxOpenat2Attempts = 32;

Result<UniqueFd> openat2_retry(int dir_fd, const std::string& path, int flags, uint64_t resolve,
                               const std::string& shown) {
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    // openat2 rejects a mode without O_CREAT/O_TMPFILE (EINVAL), unlike openat. O_TMPFILE
    // includes the O_DIRECTORY bit, hence the full-mask test.
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) how.mode = 0644;
    how.resolve = resolve;
    for (int attempt = 0; attempt < kMaxOpenat2Attempts; ++attempt) {
        long fd = ::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof(how));
        if (fd >= 0) return UniqueFd(static_cast<int>(fd));
        if (errno != EAGAIN && errno != EINTR) break;
    }
    return fail_errno("openat2", shown);
}

// Path components, without empty ones and ".". ".." is kept so the caller can refuse it.
std::vector<std::string> components(const std::string& path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        std::string_view c(path.data() + i, j - i);
        if (!c.empty() && c != ".") out.emplace_back(c);
        i = j + 1;
    }
    return out;
}

}  // namespace

Result<UniqueFd> open_in_root(int root_fd, const std::string& path, int flags) {
    // Magic links (/proc/self/fd/N, /proc/PID/root) would jump out of any root.
    return openat2_retry(root_fd, path.empty() ? "/" : path, flags,
                         RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, path);
}

Result<UniqueFd> open_beneath_no_symlinks(int root_fd, const std::string& path, int flags) {
    // RESOLVE_BENEATH refuses absolute paths (EXDEV): make the path relative to root_fd.
    size_t start = path.find_first_not_of('/');
    std::string rel = start == std::string::npos ? "." : path.substr(start);
    return openat2_retry(root_fd, rel, flags,
                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, path);
}

Result<UniqueFd> open_no_symlinks(int dir_fd, const std::string& path, int flags) {
    return openat2_retry(dir_fd, path, flags, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, path);
}

Result<UniqueFd> mkdir_p_beneath(int root_fd, const std::string& path, unsigned mode) {
    UniqueFd cur(::openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cur) return fail_errno("open", ".");
    std::string done;
    for (const auto& comp : components(path)) {
        done += "/" + comp;
        if (comp == "..") {
            errno = EINVAL;
            return fail_errno("mkdir", done);
        }
        // mkdirat never follows a symlink in the last component: an existing link is EEXIST
        // and is then refused by the open below.
        if (::mkdirat(cur.get(), comp.c_str(), mode) < 0 && errno != EEXIST)
            return fail_errno("mkdir", done);
        // With O_PATH|O_NOFOLLOW a symlink would itself be opened; O_DIRECTORY turns that into
        // ENOTDIR, so a symlinked component is an error, never followed.
        UniqueFd next(
            ::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) return fail_errno("open", done);
        cur = std::move(next);
    }
    return cur;
}

}  // namespace imageinit::os
