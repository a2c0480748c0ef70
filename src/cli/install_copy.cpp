// The write-image step of `imageinit install`: copy an image beside the slot's, fsync it, read it
// back from the medium and compare, with progress lines (qemu/power_cut.py reads them).
#include "cli/install_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "cli/print.h"
#include "os/files.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

constexpr size_t kChunk = 1 << 20;

ssize_t read_full(int fd, char* p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += static_cast<size_t>(r);
    }
    return static_cast<ssize_t>(got);
}

void progress(const char* what, uint64_t done, uint64_t total, int& last) {
    int pct = total ? static_cast<int>(done * 100 / total) : 100;
    if (pct / 10 == last / 10 && pct != 100) return;
    if (pct == last) return;
    last = pct;
    err("imageinit: ", what, " ", pct, "%\n");
}

}  // namespace

Result<void> copy_and_verify(const std::string& src, int dir_fd, const std::string& name,
                             const std::string& dst) {
    UniqueFd in = TRY(os::open_checked(AT_FDCWD, src, os::Scope::kHost, os::Want::kFile));
    struct stat st;
    if (::fstat(in.get(), &st) < 0) return fail_errno("fstat", src);
    uint64_t total = static_cast<uint64_t>(st.st_size);
    // Whatever was left at NAME (an older attempt, a planted symlink or fifo) goes; O_EXCL and
    // O_NOFOLLOW then make sure the image is written into a new file right here.
    if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT)
        return fail_errno("unlink", dst);
    UniqueFd out(
        ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return fail_errno("open", dst);
    auto buf = std::make_unique<char[]>(kChunk);
    auto back = std::make_unique<char[]>(kChunk);
    uint64_t done = 0;
    int last = -1;
    for (;;) {
        ssize_t n = read_full(in.get(), buf.get(), kChunk);
        if (n < 0) return fail_errno("read", src);
        if (n == 0) break;
        TRY(os::write_all(out.get(), std::string_view(buf.get(), static_cast<size_t>(n)), dst));
        done += static_cast<uint64_t>(n);
        progress("writing", done, total, last);
    }
    if (::fsync(out.get()) < 0) return fail_errno("fsync", dst);
    out.reset();

    // Verify from the medium, not the page cache: drop our cached pages first.
    UniqueFd check(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!check) return fail_errno("open", dst);
    (void)::posix_fadvise(check.get(), 0, 0, POSIX_FADV_DONTNEED);
    if (::lseek(in.get(), 0, SEEK_SET) < 0) return fail_errno("lseek", src);
    done = 0;
    last = -1;
    for (;;) {
        ssize_t a = read_full(in.get(), buf.get(), kChunk);
        ssize_t b = read_full(check.get(), back.get(), kChunk);
        if (a < 0) return fail_errno("read", src);
        if (b < 0) return fail_errno("read", dst);
        if (a != b || std::memcmp(buf.get(), back.get(), static_cast<size_t>(a)) != 0)
            return fail(EIO, "verification failed: '" + dst + "' differs from '" + src +
                                 "' at offset " + std::to_string(done));
        if (a == 0) break;
        done += static_cast<uint64_t>(a);
        progress("verifying", done, total, last);
    }
    return ok();
}

}  // namespace imageinit::cli
