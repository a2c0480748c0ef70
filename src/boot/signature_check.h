// Signed slots at boot (contract §16, docs/integrity.md "Signed slots"): with trusted
// certificates in the initramfs, a slot is used only through dm-verity with a root hash signed
// by one of them. Called from the verity step (integrity.cpp).
#pragma once

#include <string>

#include "boot/seams.h"

namespace imageinit::boot {

// Put there by `mkinitrd --trust CERT...`: every trusted certificate, PEM, concatenated.
inline constexpr const char* kTrustFile = "/etc/imageinit/trust.pem";
// The running boot chain's trusted certificates for the booted OS (`imageinit install` reads
// them; /run moves into the new root): a copy of kTrustFile, written once a slot verified.
inline constexpr const char* kPublishedTrustFile = "/run/imageinit/trust.pem";

// True when this initramfs trusts certificates: every slot then goes through the verity step,
// also one without verity data (which the step then refuses).
bool signatures_required(RootFs& p);

// The signature check of SLOT before its dm-verity device is made. ROOTHASH is the hex root
// hash that is about to be used (pinned or sidecar; "" when the slot has no verity data).
// Returns "" when signatures are not required, else a note naming the signer. Every refusal
// reads "signature of slot b's root hash: ...". The signature is read from the state partition
// (slots/SLOT.img.roothash.p7s) without following symlinks.
Result<std::string> check_slot_signature(RootFs& p, const std::string& slot,
                                         const std::string& roothash, const Dir& state_root);

}  // namespace imageinit::boot
