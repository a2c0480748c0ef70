// Waiting for block devices in early boot: a kernel uevent netlink socket opened first, then a
// coldplug pass over /sys, then events until one deadline. Modalias events load their modules
// (via the callback), so drivers that appear late (virtio_blk after virtio_pci) are handled.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <unordered_set>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::os {

class DeviceWaiter {
  public:
    using ModaliasHandler = std::function<void(const std::string& modalias)>;

    // Opens the netlink socket (NETLINK_KOBJECT_UEVENT) before any coldplug so no event is lost.
    static Result<DeviceWaiter> open(ModaliasHandler on_modalias);

    // Walks /sys/bus/*/devices/*: every "modalias" goes to the handler once; writes "add" to the
    // uevent files of block devices so the kernel replays events for disks that existed before
    // we listened. Modalias devices are read directly rather than replayed (same information,
    // no event storm).
    void coldplug();

    // Handles the uevents queued so far without waiting: a driver that coldplug loaded may have
    // added devices of its own (lpc_ich adds the iTCO_wdt watchdog), whose modules load now.
    void settle() { (void)drain(); }

    // Returns when `ready()` is true, re-checking after each batch of uevents that has a block
    // device event (an ENOBUFS overflow counts as one); error ETIMEDOUT at
    // the deadline. Never sleeps unconditionally.
    Result<void> wait_until(const std::function<bool()>& ready,
                            std::chrono::steady_clock::time_point deadline,
                            const std::string& what);

  private:
    void handle_modalias(const std::string& modalias);
    // Reads every queued uevent, handing MODALIAS= of "add" events on; true if one of them was
    // about a block device.
    bool drain();

    UniqueFd sock_;
    ModaliasHandler on_modalias_;
    std::unordered_set<std::string> seen_;  // each modalias goes to the handler once
};

}  // namespace imageinit::os
