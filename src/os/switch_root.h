// Hand-over to the new root, as an initramfs must do it (no pivot_root on rootfs): make / private,
// move /dev /proc /sys /run into the new root, delete the initramfs content without crossing
// devices, MS_MOVE the new root onto /, chroot, chdir.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::os {

Result<void> switch_root(const std::string& new_root);

}  // namespace imageinit::os
