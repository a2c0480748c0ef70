// The TPM2 stage of PERSIST's unlock inside a slot attempt (docs/integrity.md, "TPM2"): the
// decision over the header's imageinit-tpm2 tokens (core/tpm_policy.h), the slot measurement,
// the unseal, and the key copy kept for `install`.
#pragma once

#include <string>

#include "base/result.h"
#include "core/tpm_policy.h"
#include "os/luks.h"
#include "os/tpm2.h"

namespace imageinit::boot {

constexpr const char* kTpmKeyCopy = "/run/imageinit/tpm.key";

struct TpmUnlockOptions {
    std::string interface = os::Tpm2::kDefaultInterface;
    std::string slot;      // the slot being attempted
    std::string roothash;  // the root hash dm-verity verified it with ("" without verity)
    std::string key_copy;  // where the unsealed key is kept for `install` (0400), "" = nowhere
    // kKexec in the boot of a slot's own kernel (the kexec marker on the command line): the
    // image's keys sealed to PCR 15 after the kexec hand-over (core/tpm_policy.h).
    core::TpmStage stage = core::TpmStage::kFirst;
};

// Header without tokens: nothing done. A slot no key is sealed to: EKEYREJECTED ("TPM unseal
// failed: no key is sealed to slot b's image ..."), a failed attempt of that slot. Otherwise the
// slot PCR is reset and the slot measured, the matching tokens are unsealed one by one, and the
// slot PCR is extended with "boot done" once a key opened the volume (activated as NAME, or only
// checked when NAME is ""); a TPM that cannot unseal leaves `failure` set for the recovery paths.
Result<os::KeyStageResult> tpm_unlock(const os::CryptDevice& cd, const std::string& name,
                                      const TpmUnlockOptions& options);

// tpm_unlock as the first stage of os::luks_unlock.
os::KeyStage tpm_key_stage(TpmUnlockOptions options);

}  // namespace imageinit::boot
