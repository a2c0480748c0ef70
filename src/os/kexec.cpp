// kexec system calls (see kexec.h). glibc has no wrapper for kexec_file_load.
#include "os/kexec.h"

#include <linux/kexec.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace imageinit::os {

Result<void> kexec_file_load(int kernel_fd, int initrd_fd, const std::string& cmdline,
                             const std::string& shown) {
    unsigned long flags = initrd_fd < 0 ? KEXEC_FILE_NO_INITRAMFS : 0;
    // The length counts the terminating NUL (the kernel checks that it is there).
    long r = ::syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, cmdline.size() + 1,
                       cmdline.c_str(), flags);
    if (r < 0) return fail_errno("kexec_file_load", shown);
    return ok();
}

Result<void> kexec_reboot() {
    ::sync();
    if (::reboot(RB_KEXEC) < 0) return fail_errno("reboot(LINUX_REBOOT_CMD_KEXEC)", "");
    return ok();
}

}  // namespace imageinit::os
