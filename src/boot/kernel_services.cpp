// Module loading and the uevent listener, started as two timed steps (see kernel_services.h).
#include "boot/kernel_services.h"

#include "base/log.h"

namespace imageinit::boot {

namespace {
constexpr const char* kModuleList = "/etc/imageinit/modules";
}

void start_kernel_services(StepRunner& steps, KernelServices& services,
                           const core::ModuleCmdline& modules, bool coldplug) {
    (void)steps.run<void>("load-modules", "", [&]() -> Result<void> {
        services.modules.emplace(TRY(ModuleLoader::open(modules)));
        for (const auto& e : services.modules->load_list_file(kModuleList)) log::warning(e);
        return ok();
    });
    ModuleLoader* loader = services.loader();
    (void)steps.run<void>("coldplug", "", [&]() -> Result<void> {
        services.waiter.emplace(TRY(os::DeviceWaiter::open([loader](const std::string& alias) {
            if (loader) (void)loader->load(alias);  // a driver that will not load is not fatal
        })));
        if (coldplug) {
            services.waiter->coldplug();
            services.waiter->settle();
        }
        return ok();
    });
}

}  // namespace imageinit::boot
