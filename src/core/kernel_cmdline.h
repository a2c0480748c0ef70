// The kernel command line as one value, parsed once by PID 1 (or dracut-mount) from /proc/cmdline
// and passed down: imageinit's own keys, the module options modprobe would take, and the marker
// of a kexec'd boot. Nothing below cli/ reads /proc/cmdline.
#pragma once

#include <string>
#include <string_view>

#include "core/cmdline.h"
#include "core/module_index.h"

namespace imageinit::core {

struct KernelCmdline {
    std::string raw;        // as the kernel gave it (the kexec step rewrites it for the next one)
    BootConfig boot;        // imageinit.*, init= and the image init's arguments after "--"
    ModuleCmdline modules;  // MODULE.PARAM=VALUE and modprobe.blacklist=
    bool kexec_marker = false;  // imageinit.kexec before "--": this boot is the kexec'd one (§7)
};

KernelCmdline parse_kernel_cmdline(std::string_view raw);

}  // namespace imageinit::core
