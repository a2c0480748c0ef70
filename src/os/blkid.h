// libblkid: device specs (LABEL=, UUID=, PARTLABEL=, PARTUUID=, /dev/...) to device nodes, and
// filesystem type probing. The image's filesystem type is always probed, never guessed.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::os {

// Probes the superblock: "ext4", "squashfs", "erofs", "crypto_LUKS", ... Error if none found.
Result<std::string> probe_fstype(const std::string& device_or_file);

// What identifies a partition and its content (factory reset: recreated with the same label and
// UUID, found again by PARTUUID). Empty strings for what is absent; fstype "" when the probe
// recognises nothing (not an error here).
struct DeviceIdentity {
    std::string fstype, label, uuid;
    std::string partuuid;  // the GPT/MBR entry's UUID, when DEVICE is a partition
};
Result<DeviceIdentity> probe_identity(const std::string& device);

// Every device node currently matching `spec` (fresh probe, no cache file). Empty if none.
// A "/dev/..." spec matches itself when it exists.
Result<std::vector<std::string>> find_devices(const std::string& spec);

// The whole-disk device a partition belongs to ("/dev/vda2" -> "/dev/vda"), via sysfs.
Result<std::string> whole_disk_of(const std::string& device);

// Picks one device among several matching a label (contract §2): the one on `preferred_disk`
// wins. Pure; returns an error naming all candidates when none or several are on that disk.
struct DevicePick {
    std::string device;
    std::vector<std::string> ignored;  // for the warning
};
Result<DevicePick> pick_device(const std::string& spec, const std::vector<std::string>& candidates,
                               const std::vector<std::string>& candidate_disks,
                               const std::string& preferred_disk);

}  // namespace imageinit::os
