// `imageinit bootstrap` (contract §12), split by concern: the command and its order of steps
// (bootstrap.cpp), the disk: probing, partitions, filesystems, STATE (bootstrap_disk.cpp), and
// the ESP: the image's kernel, the menu, the loader last (bootstrap_esp.cpp).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "core/boot_entries.h"
#include "core/bootstrap_plan.h"
#include "os/loop.h"

namespace imageinit::cli {

struct BootstrapOptions {
    std::string disk;
    std::string source;
    std::string recovery;  // --recovery SOURCE2: slots/recovery.img
    bool wipe = false;
    bool dry_run = false;
    core::PersistEncryption encryption = core::PersistEncryption::kNone;  // --encrypt-persist
    uint64_t persist_size = 0;                                            // 0: the rest of the disk
    core::Bootloader bootloader = core::Bootloader::kSystemdBoot;
    std::string cmdline;  // --cmdline: kernel arguments for every boot entry
};

int cmd_bootstrap(const std::vector<std::string>& args);

// The slot images to write: (slot name, image file).
using SlotFiles = std::vector<std::pair<std::string, std::string>>;

// --- bootstrap_disk.cpp
// A helper program found in PATH (the bootstrap environment's or the host's).
Result<std::string> find_tool(const std::string& name);
// Runs ARGV[0] from PATH with the environment plus EXTRA_ENV; a failure names the command.
Result<void> run_tool(const std::vector<std::string>& argv,
                      const std::vector<std::string>& extra_env = {});
// A read-write (or read-only) loop device over one partition of DISK, by offset: the same on a
// block device and on a disk image file, and no waiting for partition nodes.
Result<os::LoopDevice> attach_part(const std::string& disk, const core::PartitionPlan& part,
                                   bool read_only = false);
// fsync of the loop device (its writes reach the disk) and of the disk itself.
Result<void> sync_part(const os::LoopDevice& loop, const std::string& disk);
Result<void> sync_disk(const std::string& disk);
// What decide_disk needs: users of the disk, its partitions, and for our own layout whether
// the loader is on the ESP and the slots on STATE equal SLOTS.
Result<core::DiskFacts> probe_disk(const std::string& disk, const core::BootstrapLayout& layout,
                                   const SlotFiles& slots);
// Zeroes the first MiB of every planned partition (old filesystem, LUKS and FAT signatures: an
// old ESP must never boot while the new disk is half made), then writes the GPT.
Result<void> partition_disk(const std::string& disk, const core::BootstrapLayout& layout);
// PERSIST LUKS2 (os/persist_format.h, as a factory reset makes it) is formatted with
// FORMAT_KEY in key slot 0.
Result<void> make_filesystems(const std::string& disk, const core::BootstrapLayout& layout,
                              const std::string& format_key);
// slots/NAME.img (copied and verified), with VERITY their dm-verity sidecars, the record (slot
// a good and primary), and PERSIST_KEY (when not empty) as imageinit/persist.key (mode 0400).
// Returns the slots' root hashes (empty without VERITY).
Result<std::map<std::string, std::string>> write_state(const std::string& disk,
                                                       const core::PartitionPlan& state,
                                                       const SlotFiles& slots, bool verity,
                                                       const std::string& persist_key);

// --- bootstrap_tpm.cpp
// --encrypt-persist=tpm2 before a byte is written: the TPM opens.
Result<void> check_tpm();
// --encrypt-persist=tpm2: on PERSIST (formatted with FORMAT_KEY) the enrolment enroll-tpm makes
// (a sealed key for each of ROOTHASHES, a recovery key), then FORMAT_KEY's key slot destroyed.
// The TPM is IMAGEINIT_TPM's interface, else /dev/tpmrm0. Returns the recovery key's text.
Result<std::string> seal_persist(const std::string& disk, const core::PartitionPlan& persist,
                                 const std::string& format_key,
                                 const std::map<std::string, std::string>& roothashes);

// --- bootstrap_esp.cpp
struct BootFiles {
    std::string kernel;  // staged copies of the image's /boot/vmlinuz and /boot/initrd.img
    std::string initrd;
    uint64_t bytes = 0;
};
// Copies the image's /boot/vmlinuz and /boot/initrd.img (contract §7) into WORK.
Result<BootFiles> stage_boot_files(const std::string& image, const std::string& work);
Result<bool> loader_present(const std::string& disk, const core::PartitionPlan& esp);
// Kernel, initramfs and menu, synced; then the loader at EFI/BOOT/BOOTX64.EFI (written beside
// it and renamed), synced: the disk is bootable from that moment only.
Result<void> write_esp(const std::string& disk, const core::PartitionPlan& esp,
                       const BootFiles& files, const std::vector<core::BootEntry>& entries,
                       core::Bootloader loader, const std::string& work);

}  // namespace imageinit::cli
