// The kexec-load step of a slot attempt (contract §7): when the slot image carries its own
// kernel and it is not the running one, load it with kexec_file_load for the hand-over.
#pragma once

#include <string>

#include "base/result.h"
#include "boot/seams.h"
#include "core/kernel_cmdline.h"

namespace imageinit::boot {

// true: the slot's kernel is loaded and the boot must end in reboot(KEXEC) instead of the
// switch to the new root. An error (no initrd, a file the kernel refuses) fails the attempt.
// CMDLINE is this boot's, parsed once by PID 1: its raw text is the base of the new kernel's.
Result<bool> load_slot_kernel(Kexec& kexec, RootFs& files, const Dir& root, const std::string& slot,
                              const core::KernelCmdline& cmdline);

}  // namespace imageinit::boot
