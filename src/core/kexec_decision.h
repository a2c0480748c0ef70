// Slot-owned kernels (contract §7), the pure part: does the chosen slot's own kernel differ from
// the running one, and with which command line is it booted? Plain values in, a decision out;
// boot/slot_kernel.cpp reads the files and makes the calls.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace imageinit::core {

// Paths inside a slot image.
inline constexpr std::string_view kSlotKernelPath = "/boot/vmlinuz";
inline constexpr std::string_view kSlotInitrdPath = "/boot/initrd.img";
// The marker imageinit adds to the command line of a kernel it kexecs into: a boot carrying it
// never kexecs again, whatever the kernels look like (no kexec loop).
inline constexpr std::string_view kKexecMarker = "imageinit.kexec";
// x86's COMMAND_LINE_SIZE, terminating NUL included.
inline constexpr size_t kMaxCmdline = 2048;
// Enough of a bzImage to hold its setup header and version string.
inline constexpr size_t kBzImageHeadBytes = 64 * 1024;

// The version string a bzImage's setup header points to (offset 0x20E, boot protocol >= 2.00):
// "6.1.0-13-amd64 (debian-kernel@lists.debian.org) #1 SMP ... Debian 6.1.55-1 (2023-09-29)".
// nullopt when HEAD (the file's first bytes) is not a bzImage or has no readable string.
std::optional<std::string> bzimage_version(std::string_view head);

// True when the bzImage version string names the running kernel (uname release + version).
bool same_kernel(std::string_view image_version, std::string_view release,
                 std::string_view version);

struct KexecInput {
    std::string slot;
    std::string cmdline;          // the running kernel's command line (/proc/cmdline)
    bool kexec_marker = false;    // it carries the marker (KernelCmdline::kexec_marker)
    std::string running_release;  // uname -r
    std::string running_version;  // uname -v
    bool has_kernel = false;      // the slot image has /boot/vmlinuz
    bool has_initrd = false;      // ... and /boot/initrd.img
    std::optional<std::string> kernel_version;  // bzimage_version of it; nullopt: unreadable
};

struct KexecDecision {
    bool kexec = false;
    std::string why;      // one line for the log: why (not)
    std::string cmdline;  // the new kernel's command line when kexec
};

// The rules:
// - no /boot/vmlinuz in the slot, or the command line carries the kexec marker: no kexec;
// - a kernel without /boot/initrd.img: an error (the running initramfs holds the running
//   kernel's modules, which the slot's kernel cannot load; booting the slot with the running
//   kernel instead is what §7 exists to prevent), so the attempt fails and the next slot is tried;
// - the same kernel as the running one: no kexec;
// - otherwise (different, or a version that cannot be read: the kernel then judges the file):
//   kexec with the current command line, every imageinit.slot= and marker word removed, and
//   "imageinit.slot=SLOT imageinit.kexec=SLOT" added before a "--" (or at the end).
Result<KexecDecision> decide_kexec(const KexecInput& in);

// The command line for the kexec'd kernel (the rewriting rule above).
Result<std::string> kexec_cmdline(std::string_view cmdline, const std::string& slot);

// True when CMDLINE carries the kexec marker before any "--".
bool has_kexec_marker(std::string_view cmdline);

}  // namespace imageinit::core
