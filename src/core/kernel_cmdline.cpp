// One pass over the command line for every reader of it (see kernel_cmdline.h).
#include "core/kernel_cmdline.h"

#include "core/kexec_decision.h"

namespace imageinit::core {

KernelCmdline parse_kernel_cmdline(std::string_view raw) {
    KernelCmdline out;
    out.raw = std::string(raw);
    out.boot = parse_cmdline(raw);
    out.modules = parse_module_cmdline(raw);
    out.kexec_marker = has_kexec_marker(raw);
    return out;
}

}  // namespace imageinit::core
