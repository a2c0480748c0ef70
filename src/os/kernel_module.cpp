// finit_module(2) and uname(2) (see kernel_module.h).
#include "os/kernel_module.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.h"

namespace imageinit::os {
namespace {

#ifndef MODULE_INIT_COMPRESSED_FILE
constexpr unsigned MODULE_INIT_COMPRESSED_FILE = 4;  // include/uapi/linux/module.h, 5.17+
#endif

bool compressed(const std::string& path) {
    return path.ends_with(".xz") || path.ends_with(".zst") || path.ends_with(".gz");
}

}  // namespace

Result<std::string> kernel_release() {
    struct utsname u;
    if (::uname(&u) != 0) return fail_errno("uname", "");
    return std::string(u.release);
}

Result<void> insert_module(const std::string& path, const std::string& params) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open module", path);
    unsigned flags = compressed(path) ? MODULE_INIT_COMPRESSED_FILE : 0;
    if (::syscall(SYS_finit_module, fd.get(), params.c_str(), flags) != 0 && errno != EEXIST)
        return fail_errno("finit_module", path);
    return ok();
}

}  // namespace imageinit::os
