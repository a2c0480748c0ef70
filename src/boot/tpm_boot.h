// The TPM2 side of the boot (docs/integrity.md, "TPM2"): closing the TPM for this boot before
// anything that is not imageinit runs with root (the image's init, a kexec'd kernel, a shell),
// so that nothing after imageinit can unseal PERSIST's key.
#pragma once

#include <string>

namespace imageinit::boot {

// Where the kernel's TPM resource manager appears (CONFIG_TCG_TPM; tpm_crb/tpm_tis).
constexpr const char* kTpmDevice = "/dev/tpmrm0";

// Extends "boot done" into PCR 15 (not resettable) and PCR 23. True when done, or when there is
// no TPM (or no tpm2-tss in this initramfs) to close; false when a TPM is there but the extend
// failed: the caller must then not hand a shell to anyone. Never throws.
// KEXEC_ROOTHASH (the hand-over by kexec to that verified image's own kernel): PCR 15 gets the
// image's kexec measurement instead, the one value its kexec'd PID 1 can unseal with
// (core::TpmStage::kKexec); PCR 23 gets "boot done" as always.
bool tpm_close_boot(const std::string& kexec_roothash = "") noexcept;

}  // namespace imageinit::boot
