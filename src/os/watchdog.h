// The hardware watchdog device (Documentation/watchdog/watchdog-api.rst): open (which arms it),
// set the timeout, feed it, read why the machine last reset. No call here writes the magic 'V',
// so closing the fd (O_CLOEXEC: at the exec of the image's init) leaves it armed.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

class Watchdog {
  public:
    // Opens PATH (O_WRONLY|O_CLOEXEC). The kernel starts the timer on open.
    static Result<Watchdog> open(const std::string& path);

    // WDIOC_SETTIMEOUT; returns the timeout the driver actually took (it may round).
    Result<int> set_timeout(int seconds);
    // WDIOC_GETTIMEOUT.
    Result<int> timeout();
    // WDIOC_KEEPALIVE.
    Result<void> keepalive();
    // WDIOC_GETBOOTSTATUS: WDIOF_* flags of the last reset, as far as the driver knows them.
    Result<int> boot_status();
    // WDIOC_GETSUPPORT: the driver's identity and its WDIOF_* options.
    Result<std::string> identity();
    Result<int> options();

    const std::string& path() const { return path_; }

  private:
    UniqueFd fd_;
    std::string path_;
};

}  // namespace imageinit::os
