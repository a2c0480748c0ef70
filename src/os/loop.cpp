// Loop devices: one LOOP_CTL_GET_FREE, one open of /dev/loopN, one LOOP_CONFIGURE (Linux 5.8+)
// that sets the backing file, offset, size limit and flags atomically.
#include "os/loop.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "os/safe_open.h"

namespace imageinit::os {
namespace {

// Two processes can get the same number from LOOP_CTL_GET_FREE; the loser's LOOP_CONFIGURE
// fails with EBUSY and asks for another. Bounded so a kernel that keeps refusing ends the boot
// step with an error instead of spinning.
constexpr int kMaxAttempts = 16;

}  // namespace

Result<LoopDevice> attach_loop(const std::string& file, bool read_only, uint64_t offset,
                               uint64_t size_limit) {
    // O_NONBLOCK and the type check: a fifo at an image's place must fail, not block the open.
    UniqueFd backing(
        ::open(file.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!backing) return fail_errno("open", file);
    struct stat st;
    if (::fstat(backing.get(), &st) < 0) return fail_errno("fstat", file);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return fail(EINVAL, "'" + file + "' is " + file_kind(st.st_mode) +
                                ", not a regular file or block device");
    // The loop driver reads through this file: give it the ordinary blocking semantics back.
    if (::fcntl(backing.get(), F_SETFL, ::fcntl(backing.get(), F_GETFL) & ~O_NONBLOCK) < 0)
        return fail_errno("fcntl", file);

    UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!control) return fail_errno("open", "/dev/loop-control");

    struct loop_config config = {};
    config.fd = static_cast<uint32_t>(backing.get());
    config.info.lo_offset = offset;
    config.info.lo_sizelimit = size_limit;
    // Autoclear: the device detaches when its last user goes (our fd, then the mount), so an
    // unwinding slot never leaks a loop device (loop(4), LO_FLAGS_AUTOCLEAR).
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    // For `losetup -l` and /sys/block/loopN/loop/backing_file readers; truncated if long.
    std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);

    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
        if (n < 0) return fail_errno("ioctl LOOP_CTL_GET_FREE", "/dev/loop-control");
        // devtmpfs creates /dev/loopN before LOOP_CTL_GET_FREE returns (device_add waits for
        // the devtmpfs request), so no wait is needed here; a static /dev without the node
        // gives ENOENT, reported as is.
        std::string path = "/dev/loop" + std::to_string(n);
        UniqueFd dev(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
        if (!dev) return fail_errno("open", path);
        if (::ioctl(dev.get(), LOOP_CONFIGURE, &config) < 0) {
            if (errno == EBUSY) continue;  // another process configured it first
            std::string what = "ioctl LOOP_CONFIGURE " + path + " with";
            return fail_errno(what, file);
        }
        return LoopDevice{std::move(path), std::move(dev)};
    }
    errno = EBUSY;
    return fail_errno("attach loop device for", file);
}

}  // namespace imageinit::os
