// The dm-verity step of a slot attempt (contract §6): where a slot's verity data is and which
// root hash wins, kept out of boot_sequence.cpp so the sequence only calls it.
#pragma once

#include <string>

#include "boot/seams.h"
#include "core/cmdline.h"

namespace imageinit::boot {

// The dm device of SLOT's verified image: /dev/mapper/imageinit-verity-SLOT.
std::string verity_name(const std::string& slot);

// True when SLOT has any verity data: a pinned root hash (imageinit.roothash.SLOT) or a sidecar
// (slots/SLOT.img.verity or .roothash on the state partition). Such a slot is only ever used
// through dm-verity: missing halves fail it rather than booting it unverified.
bool has_verity_data(RootFs& files, const core::BootConfig& cfg, const std::string& slot);

// Opens DEVICE (the slot's loop device or partition) through dm-verity. A pinned root hash wins
// over the .roothash sidecar. The note says where the root hash came from.
// The .roothash sidecar is read from STATE_ROOT (the state partition) without following
// symlinks: a fifo or link there fails the slot rather than hanging it. ROOTHASH (optional)
// receives the root hash the device was verified with (the TPM measures it, tpm_unlock.h).
Result<AttachedImage> open_slot_verity(RootFs& files, Integrity& integrity,
                                       const core::BootConfig& cfg, const std::string& slot,
                                       const std::string& device, const Dir& state_root,
                                       std::string* roothash = nullptr);

}  // namespace imageinit::boot
