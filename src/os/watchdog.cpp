// Watchdog ioctls (see watchdog.h). Errors name the ioctl and the device.
#include "os/watchdog.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>

#include <cstring>

namespace imageinit::os {
namespace {

Result<watchdog_info> support(int fd, const std::string& path) {
    watchdog_info info{};
    if (::ioctl(fd, WDIOC_GETSUPPORT, &info) < 0) return fail_errno("WDIOC_GETSUPPORT", path);
    return info;
}

}  // namespace

Result<Watchdog> Watchdog::open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return fail_errno("open", path);
    Watchdog w;
    w.fd_ = std::move(fd);
    w.path_ = path;
    return w;
}

Result<int> Watchdog::set_timeout(int seconds) {
    int value = seconds;  // the driver writes back what it set
    if (::ioctl(fd_.get(), WDIOC_SETTIMEOUT, &value) < 0)
        return fail_errno("WDIOC_SETTIMEOUT " + std::to_string(seconds), path_);
    return value;
}

Result<int> Watchdog::timeout() {
    int value = 0;
    if (::ioctl(fd_.get(), WDIOC_GETTIMEOUT, &value) < 0)
        return fail_errno("WDIOC_GETTIMEOUT", path_);
    return value;
}

Result<void> Watchdog::keepalive() {
    int dummy = 0;
    if (::ioctl(fd_.get(), WDIOC_KEEPALIVE, &dummy) < 0)
        return fail_errno("WDIOC_KEEPALIVE", path_);
    return ok();
}

Result<int> Watchdog::boot_status() {
    int flags = 0;
    if (::ioctl(fd_.get(), WDIOC_GETBOOTSTATUS, &flags) < 0)
        return fail_errno("WDIOC_GETBOOTSTATUS", path_);
    return flags;
}

Result<std::string> Watchdog::identity() {
    watchdog_info info = TRY(support(fd_.get(), path_));
    const char* id = reinterpret_cast<const char*>(info.identity);
    return std::string(id, ::strnlen(id, sizeof(info.identity)));
}

Result<int> Watchdog::options() {
    watchdog_info info = TRY(support(fd_.get(), path_));
    return static_cast<int>(info.options);
}

}  // namespace imageinit::os
