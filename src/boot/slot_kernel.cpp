// The kexec-load step (see slot_kernel.h): gathers the facts for core::decide_kexec and, when it
// says so, loads the slot's kernel and initramfs.
#include "boot/slot_kernel.h"

#include "base/log.h"
#include "core/kexec_decision.h"

namespace imageinit::boot {

Result<bool> load_slot_kernel(Kexec& kexec, RootFs& files, const Dir& root, const std::string& slot,
                              const core::KernelCmdline& cmdline) {
    const std::string kernel(core::kSlotKernelPath), initrd(core::kSlotInitrdPath);
    core::KexecInput in;
    in.slot = slot;
    auto head = files.read_head_in_root(root, kernel, core::kBzImageHeadBytes);
    if (!head && head.error().code != ENOENT) return Unexpected(std::move(head).error());
    in.has_kernel = head.has_value();
    if (!in.has_kernel) return false;  // the common case: nothing more to read
    in.kernel_version = core::bzimage_version(*head);
    auto initrd_dir = files.open_in_root(root, initrd, false);
    if (!initrd_dir && initrd_dir.error().code != ENOENT)
        return Unexpected(std::move(initrd_dir).error());
    in.has_initrd = initrd_dir.has_value();
    in.cmdline = cmdline.raw;
    in.kexec_marker = cmdline.kexec_marker;
    auto [release, version] = kexec.running_kernel();
    in.running_release = release;
    in.running_version = version;

    core::KexecDecision d = TRY(core::decide_kexec(in));
    log::info(d.why);
    if (!d.kexec) return false;
    TRY(kexec.kexec_load(root, kernel, initrd, d.cmdline));
    log::notice("loaded slot " + slot + "'s kernel for kexec, command line: " + d.cmdline);
    return true;
}

}  // namespace imageinit::boot
