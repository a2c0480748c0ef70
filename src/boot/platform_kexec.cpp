// RealPlatform's slot-kernel methods (see platform.h, "slot-owned kernels"), apart from
// platform.cpp so the kexec pieces stay together.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "boot/real_platform.h"
#include "sys/kexec.h"
#include "sys/resolve.h"

namespace imageinit::boot {

std::pair<std::string, std::string> RealPlatform::running_kernel() {
    struct utsname u;
    if (::uname(&u) < 0) return {};
    return {u.release, u.version};
}

Result<std::string> RealPlatform::read_head_in_root(const Dir& root, const std::string& path,
                                                    size_t max_bytes) {
    sys::UniqueFd fd = TRY(sys::open_in_root(root.fd.get(), path, O_RDONLY | O_CLOEXEC));
    std::string out(max_bytes, '\0');
    size_t have = 0;
    while (have < max_bytes) {
        ssize_t n = ::pread(fd.get(), out.data() + have, max_bytes - have, static_cast<off_t>(have));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read", root.path + path);
        if (n == 0) break;
        have += static_cast<size_t>(n);
    }
    out.resize(have);
    return out;
}

Result<void> RealPlatform::kexec_load(const Dir& root, const std::string& kernel,
                                      const std::string& initrd, const std::string& cmdline) {
    sys::UniqueFd kfd = TRY(sys::open_in_root(root.fd.get(), kernel, O_RDONLY | O_CLOEXEC));
    sys::UniqueFd ifd = TRY(sys::open_in_root(root.fd.get(), initrd, O_RDONLY | O_CLOEXEC));
    return sys::kexec_file_load(kfd.get(), ifd.get(), cmdline, kernel);
}

}  // namespace imageinit::boot
