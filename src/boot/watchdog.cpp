// The boot's watchdog (see watchdog.h). Kernel side: Documentation/watchdog/watchdog-api.rst;
// closing without 'V' leaves a WDIOF_MAGICCLOSE driver running (watchdog_release() logs
// "watchdog did not stop!" and pings it once), which is the hand-over.
#include "boot/watchdog.h"

#include <linux/watchdog.h>

#include <string>

#include "base/log.h"

namespace imageinit::boot {
namespace {

// watchdog0 is the watchdog core's node; /dev/watchdog is the legacy one of the first device
// (and the only one of drivers outside the core).
constexpr const char* kDevices[] = {"/dev/watchdog0", "/dev/watchdog"};

}  // namespace

void BootWatchdog::arm() {
    if (device_ || gave_up_) return;
    if (timeout_sec_ == 0) {
        gave_up_ = true;
        log::info("watchdog: off (imageinit.watchdog=0)");
        return;
    }
    for (const char* path : kDevices) {
        auto opened = os::Watchdog::open(path);
        if (!opened) {
            if (opened.error().code == ENOENT || opened.error().code == ENODEV) continue;
            gave_up_ = true;  // EBUSY (someone else has it), EACCES...: not ours to use
            log::warning("watchdog: " + opened.error().message + "; not armed");
            return;
        }
        device_.emplace(std::move(*opened));
        break;
    }
    if (!device_) return;  // no device (yet)

    auto status = device_->boot_status();
    reset_by_watchdog_ = status && (*status & WDIOF_CARDRESET);
    std::string identity = device_->identity().value_or("unknown driver");
    int timeout = timeout_sec_;
    if (auto set = device_->set_timeout(timeout_sec_); set) {
        timeout = *set;
    } else {
        timeout = device_->timeout().value_or(-1);
        log::warning("watchdog: " + set.error().message + "; the driver keeps its timeout of " +
                     std::to_string(timeout) + " s");
    }
    log::notice("watchdog: armed " + device_->path() + " (" + identity + ") with " +
                std::to_string(timeout) + " s; the image's init gets it armed");
    if (reset_by_watchdog_) log::warning("watchdog: the last boot ended in a watchdog reset");
    auto options = device_->options();
    if (options && !(*options & WDIOF_MAGICCLOSE))
        log::warning("watchdog: " + identity +
                     " stops when closed (no magic close): the image's init gets it disarmed "
                     "unless the kernel has watchdog nowayout");
}

void BootWatchdog::feed() {
    if (!device_) {
        arm();
        return;
    }
    // A feed that fails (the driver went away) is not a reason to stop the boot: if the
    // watchdog is still running it resets the machine, which counts the try.
    if (auto r = device_->keepalive(); !r) log::debug("watchdog: " + r.error().message);
}

}  // namespace imageinit::boot
