// dm-verity through libcryptsetup: build a hash tree (install), check one in userspace without
// device-mapper (check), and open a read-only verified device (boot). See docs/integrity.md.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::os {

// The root hash as lower-case hex from the text of a .roothash sidecar or the command line:
// surrounding whitespace removed, hex digits only, even length, 32..128 digits.
Result<std::string> parse_roothash(const std::string& text);

// Writes the hash tree of DATA (a file whose size is a multiple of 4096) into HASH (created or
// truncated; sha256, 4 KiB blocks, random salt, with a superblock as `veritysetup format` does).
// Returns the root hash as hex.
Result<std::string> verity_format(const std::string& data, const std::string& hash);

// Verifies every data and hash block against ROOTHASH in userspace (CRYPT_VERITY_CHECK_HASH with
// no device name: libcryptsetup reads and hashes everything and creates no dm device), so it
// works on machines without device-mapper. EPERM on a mismatch.
Result<void> verity_verify(const std::string& data, const std::string& hash,
                           const std::string& roothash_hex);

// Creates the read-only dm-verity device NAME over DATA_DEVICE with the tree on HASH_DEVICE and
// returns its path (/dev/mapper/NAME). Corruption reads as EIO (the kernel default) until
// verity_restart_on_corruption(); the first block is read once so a wrong root hash fails here,
// named as such, rather than later as an unexplained I/O error.
Result<std::string> verity_activate(const std::string& data_device, const std::string& hash_device,
                                    const std::string& roothash_hex, const std::string& name);

// Reloads NAME's table with restart_on_corruption added. Done at the hand-over: inside the
// initramfs a corrupt block must fail the slot (same-boot fallback), after it the kernel must
// restart so the corruption becomes a counted failed boot (dm-verity.rst, "restart_on_corruption").
Result<void> verity_restart_on_corruption(const std::string& name);

// Removes the dm device NAME now, or when its last user goes (DM_DEFERRED_REMOVE), so an undo
// guard works whatever order the mount on it is undone in.
Result<void> dm_remove_deferred(const std::string& name);

}  // namespace imageinit::os
