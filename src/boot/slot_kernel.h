// The kexec-load step of a slot attempt (contract §7): when the slot image carries its own
// kernel and it is not the running one, load it with kexec_file_load for the hand-over.
#pragma once

#include <string>

#include "boot/platform.h"
#include "core/result.h"

namespace imageinit::boot {

// true: the slot's kernel is loaded and the boot must end in reboot(KEXEC) instead of the
// switch to the new root. An error (no initrd, a file the kernel refuses) fails the attempt.
Result<bool> load_slot_kernel(Platform& p, const Dir& root, const std::string& slot);

}  // namespace imageinit::boot
