// RealKexec (see real_platform.h): the running kernel and kexec_file_load of a slot's kernel,
// its files opened inside the image like every other file of it.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "boot/real_platform.h"
#include "os/kexec.h"
#include "os/safe_open.h"

namespace imageinit::boot {

std::pair<std::string, std::string> RealKexec::running_kernel() {
    struct utsname u;
    if (::uname(&u) < 0) return {};
    return {u.release, u.version};
}

Result<void> RealKexec::kexec_load(const Dir& root, const std::string& kernel,
                                   const std::string& initrd, const std::string& cmdline) {
    // Checked like every file of an image: a fifo here would block kexec_file_load's read.
    UniqueFd kfd =
        TRY(os::open_checked(root.fd.get(), kernel, os::Scope::kImage, os::Want::kFile, O_RDONLY));
    UniqueFd ifd =
        TRY(os::open_checked(root.fd.get(), initrd, os::Scope::kImage, os::Want::kFile, O_RDONLY));
    return os::kexec_file_load(kfd.get(), ifd.get(), cmdline, kernel);
}

}  // namespace imageinit::boot
