// Bootstrap planning (contract §12): the GPT layout of a blank device disk from its size and
// the images it will hold, and what to do with the disk as found (refuse, lay out, resume, no-op).
// Pure: the facts come in as values, so every refusal is a table row in the unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::core {

constexpr uint64_t kMiB = 1024 * 1024;
// GPT type GUIDs. The ESP's is the UEFI one; STATE and PERSIST are generic Linux data: the
// Discoverable Partitions Specification has no type for either, and its /var type would make
// systemd-gpt-auto-generator mount PERSIST on /var by itself (docs/device-boot.md).
constexpr const char* kTypeEsp = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
constexpr const char* kTypeLinuxData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

struct PartitionPlan {
    std::string name;       // GPT partition name: esp, state, persist
    std::string type_guid;  // upper case
    std::string fs;         // vfat, ext4, luks2+ext4
    std::string label;      // filesystem label (ESP, STATE, PERSIST: the initramfs's defaults)
    uint64_t start = 0;     // bytes, MiB-aligned
    uint64_t size = 0;      // bytes
    bool operator==(const PartitionPlan&) const = default;
};

// --encrypt-persist[=keyfile|tpm2] (docs/device-boot.md): PERSIST plain ext4, LUKS2 opened by a
// key file on STATE, or LUKS2 whose key is sealed to the TPM2 for the installed images.
enum class PersistEncryption { kNone, kKeyFile, kTpm2 };
// VALUE is what follows "--encrypt-persist": "" or "=keyfile" (the key file), "=tpm2".
Result<PersistEncryption> parse_encrypt_persist(const std::string& value);

// What bootstrap does for PERSIST's key, decided once from the encryption asked for.
struct PersistKeyPlan {
    bool luks = false;               // PERSIST is a LUKS2 container
    bool key_file = false;           // STATE/imageinit/persist.key keeps the key that formatted it
    bool verity = false;             // slots get dm-verity sidecars (the TPM seals to root hashes)
    bool seal_to_tpm = false;        // a sealed key + a recovery key are enrolled
    bool retire_format_key = false;  // the key that formatted PERSIST is destroyed after that
    std::vector<std::string> sealed_slots;  // the slots whose images the key is sealed to
};
// SLOTS: the slots bootstrap writes (a, and recovery when given). Every one of them is sealed
// to: with TPM tokens in the header, a slot that no token names fails its attempt at boot.
PersistKeyPlan plan_persist_key(PersistEncryption encryption,
                                const std::vector<std::string>& slots);

struct BootstrapSizes {
    uint64_t disk = 0;        // bytes
    uint64_t image = 0;       // slot a
    uint64_t recovery = 0;    // 0: none
    uint64_t boot_files = 0;  // the image's kernel + initramfs, copied to the ESP
    uint64_t persist = 0;     // --persist-size; 0: the rest of the disk
    PersistEncryption encryption = PersistEncryption::kNone;
};

struct BootstrapLayout {
    std::vector<PartitionPlan> parts;  // esp, state, persist in disk order
    uint64_t needed = 0;               // smallest disk this layout fits on
};

// Sizes: ESP max(64 MiB, 2 x boot files + 16 MiB); STATE room for two images of 1.25 x slot a
// (an update may grow) plus recovery plus 64 MiB; PERSIST --persist-size or the rest, at least
// 32 MiB. 1 MiB at each end (GPT). Fails with the size needed when the disk is too small.
Result<BootstrapLayout> plan_layout(const BootstrapSizes& sizes, const std::string& disk_name);

// "512M", "2G", "1T", "4096" (bytes), "100K": for --persist-size. Whole numbers only.
Result<uint64_t> parse_size(const std::string& text);
// "64 MiB", "1.5 GiB"
std::string format_size(uint64_t bytes);

// What the disk holds now, as probed (os/fdisk.h, mountinfo, the ESP's loader).
struct DiskFacts {
    std::string name;                       // /dev/vdb
    std::vector<std::string> in_use;        // "'/dev/vdb1' is mounted on '/'", holders
    std::vector<PartitionPlan> partitions;  // existing (name, type, start, size; fs/label empty)
    bool boot_loader_present = false;       // EFI/BOOT/BOOTX64.EFI on a matching ESP
    bool slots_match_source = false;        // slots on STATE are byte-equal to the sources
};

enum class DiskAction {
    kLayOut,    // blank, or --wipe: everything from the partition table on
    kResume,    // our own layout, left unfinished (power cut): redo it, the disk never booted
    kComplete,  // our layout, bootable, same image(s): nothing to do
};
const char* action_name(DiskAction action);

// The one decision: refuses a disk in use, a disk with partitions that are not an unfinished
// bootstrap of this same layout (unless WIPE), and a finished device with other images (unless
// WIPE). The error is one line naming the disk.
Result<DiskAction> decide_disk(const DiskFacts& facts, const BootstrapLayout& layout, bool wipe);

// The printable plan (--dry-run and the log): one line per partition, then the action.
std::string describe_layout(const BootstrapLayout& layout);

}  // namespace imageinit::core
