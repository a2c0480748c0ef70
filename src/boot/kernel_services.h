// The two kernel services a boot needs before it can look for devices: module loading (depmod's
// indexes and the initramfs's module list) and the uevent listener with its coldplug pass.
// Shared by PID 1 and the dracut mode; either may be missing (logged), the boot then runs
// without it.
#pragma once

#include <optional>

#include "boot/module_loader.h"
#include "boot/step_runner.h"
#include "os/devwait.h"

namespace imageinit::boot {

struct KernelServices {
    std::optional<ModuleLoader> modules;
    std::optional<os::DeviceWaiter> waiter;
    ModuleLoader* loader() { return modules ? &*modules : nullptr; }
    os::DeviceWaiter* device_waiter() { return waiter ? &*waiter : nullptr; }
};

// Runs the steps `load-modules` and `coldplug` (the pass is skipped when udev already replays
// the devices). SERVICES must stay where it is: the uevent handler points into it. MODULES: the
// module options and blacklist of this boot's command line.
void start_kernel_services(StepRunner& steps, KernelServices& services,
                           const core::ModuleCmdline& modules, bool coldplug);

}  // namespace imageinit::boot
