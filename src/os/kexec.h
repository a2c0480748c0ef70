// kexec: load a kernel for the next reboot(LINUX_REBOOT_CMD_KEXEC), and do that reboot.
// kexec_file_load copies the files into kernel memory: the fds may be closed (and their
// filesystem unmounted) once the load returned.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::os {

// kexec_file_load(2). initrd_fd < 0: no initramfs. SHOWN names the kernel file in errors.
Result<void> kexec_file_load(int kernel_fd, int initrd_fd, const std::string& cmdline,
                             const std::string& shown);

// reboot(LINUX_REBOOT_CMD_KEXEC) into the loaded kernel; returns only on failure.
Result<void> kexec_reboot();

}  // namespace imageinit::os
