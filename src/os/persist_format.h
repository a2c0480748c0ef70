// Making a persistent partition new (factory reset, docs/device-boot.md): a LUKS2 header with
// one machine key, an ext4 filesystem by mke2fs, random key bytes, and flushing a block device.
// One call each; the order that makes them crash-safe is boot/reset_persist.cpp's.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::os {

// getrandom(2), blocking until the pool is initialised (a key must never be guessable).
Result<std::string> random_bytes(size_t n);

// A new LUKS2 header on DEVICE (aes-xts-plain64, 512-bit volume key, LABEL and UUID when not
// empty) with KEY in key slot 0 as pbkdf2-sha256 with 1000 iterations: a random machine key
// needs no stretching (docs/integrity.md). Replaces whatever header was there, with its keys.
Result<void> luks_format(const std::string& device, const std::string& label,
                         const std::string& uuid, const std::string& key);

// Maps the LUKS2 DEVICE as /dev/mapper/NAME with KEY (key slot 0), returns that path.
Result<std::string> luks_open_with_key(const std::string& device, const std::string& name,
                                       const std::string& key);
Result<void> luks_close(const std::string& name);

// mke2fs -t ext4 on DEVICE (LABEL/UUID when not empty), the program found in the initramfs's
// /usr/sbin or the host's /sbin. Its output goes to our stderr (the console at boot).
Result<void> mkfs_ext4(const std::string& device, const std::string& label,
                       const std::string& uuid);

// fsync(2) on the block device: its written blocks reach the disk, cache flush included.
Result<void> fsync_device(const std::string& device);

}  // namespace imageinit::os
