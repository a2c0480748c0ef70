// PID 1 and the hardware watchdog (contract §14, docs/device-boot.md): armed once coldplug has
// loaded its driver, fed between steps, never disarmed, and handed to the image's init armed
// (its fd closes at exec without the magic character). Anything that hangs is thereby bounded.
#pragma once

#include <optional>

#include "os/watchdog.h"

namespace imageinit::boot {

class BootWatchdog {
  public:
    explicit BootWatchdog(int timeout_sec) : timeout_sec_(timeout_sec) {}

    // Opens /dev/watchdog0 (else /dev/watchdog) if it exists, which starts it, and sets the
    // timeout. Without a device it does nothing; feed() looks again, for a driver that comes
    // later (a device that a coldplug-loaded driver creates). Logs what it did.
    void arm();
    // Feeds an armed watchdog; otherwise tries arm() again.
    void feed();
    // The driver's boot status had WDIOF_CARDRESET when it was armed: the watchdog reset the
    // machine during the last boot (only drivers that can tell report it, docs/device-boot.md).
    bool reset_by_watchdog() const { return reset_by_watchdog_; }
    bool armed() const { return device_.has_value(); }

  private:
    int timeout_sec_;
    bool gave_up_ = false;  // off, or a device we cannot use: stop looking
    bool reset_by_watchdog_ = false;
    std::optional<os::Watchdog> device_;
};

}  // namespace imageinit::boot
