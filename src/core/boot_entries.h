// The boot menu bootstrap writes to the ESP (contract §12): one default entry (imageinit picks
// the slot), one per slot forcing it, and "factory reset" (imageinit.reset=persist), rendered
// for systemd-boot (loader.conf + entries) or GRUB (grub.cfg). Pure text.
#pragma once

#include <string>
#include <vector>

namespace imageinit::core {

// Where the boot chain lives on the ESP. The loader at the removable-media path is what the
// firmware starts without any NVRAM entry; bootstrap writes it last (docs/device-boot.md).
constexpr const char* kEspLoader = "EFI/BOOT/BOOTX64.EFI";
constexpr const char* kEspKernel = "imageinit/vmlinuz";
constexpr const char* kEspInitrd = "imageinit/initrd.img";

enum class Bootloader { kSystemdBoot, kGrub };

struct BootEntry {
    std::string id;  // file name stem: imageinit, imageinit-slot-a, imageinit-factory-reset
    std::string title;
    std::string options;  // the kernel command line
};

// CMDLINE (bootstrap's --cmdline) goes into every entry; SLOTS in menu order.
std::vector<BootEntry> boot_entries(const std::string& cmdline,
                                    const std::vector<std::string>& slots);

struct EspFile {
    std::string path;  // on the ESP, no leading slash
    std::string content;
};
// systemd-boot: loader/loader.conf and loader/entries/ID.conf.
std::vector<EspFile> systemd_boot_files(const std::vector<BootEntry>& entries);
// GRUB: the grub.cfg embedded in its EFI image (grub-mkstandalone), finding the ESP by the
// kernel's path.
std::string grub_config(const std::vector<BootEntry>& entries);

}  // namespace imageinit::core
