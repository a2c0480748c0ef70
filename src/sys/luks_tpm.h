// LUKS2 header operations for TPM2-sealed keys: the imageinit-tpm2 tokens, key slots for the
// sealed key and the recovery key, and the TPM stage of a PID 1 unlock (sys/luks.cpp calls it
// before the key file). Which token a slot may use is core/tpm_policy.h's decision.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/tpm_policy.h"
#include "sys/cryptsetup_lib.h"
#include "sys/tpm2.h"

namespace imageinit::sys {

struct LuksTpmToken {
    int id;
    core::TpmToken token;
};
// The header's imageinit-tpm2 tokens. A malformed one is left out and named in SKIPPED.
std::vector<LuksTpmToken> read_tpm_tokens(const CryptDevice& cd, std::vector<std::string>* skipped);
Result<int> add_tpm_token(const CryptDevice& cd, const core::TpmToken& token);
Result<void> remove_token(const CryptDevice& cd, int id);

// How a new key slot stretches its key: a random machine key needs no stretching (pbkdf2,
// 1000 iterations, like the initramfs key file); a typed recovery key gets argon2id (64 MiB,
// 4 passes), which is also what sends it to the passphrase prompt's slots (sys/luks.cpp).
enum class KeyKind { kMachine, kTyped };
// Adds NEW_KEY in a new key slot, authorised by EXISTING (any slot). Returns the slot.
Result<int> add_keyslot(const CryptDevice& cd, const std::vector<uint8_t>& existing,
                        const std::vector<uint8_t>& new_key, KeyKind kind);
Result<void> destroy_keyslot(const CryptDevice& cd, int slot);
// The key slot KEY opens (nothing is activated), or EPERM.
Result<int> keyslot_of(const CryptDevice& cd, const std::vector<uint8_t>& key);

// The TPM stage of a PID 1 unlock (docs/integrity.md, "TPM2").
struct TpmUnlockOptions {
    std::string interface = Tpm2::kDefaultInterface;
    std::string slot;       // the slot being attempted
    std::string roothash;   // the root hash dm-verity verified it with ("" without verity)
    std::string key_copy;   // where the unsealed key is kept for `install` (0400), "" = nowhere
};
struct TpmUnlockResult {
    std::optional<std::string> how;  // set: NAME is active ("TPM2 (slot a), key slot 1, 40 ms")
    std::string failure;             // "TPM unseal failed: ..." when the TPM did not unlock
};
// Header without tokens: nothing done. A slot no key is sealed to: EKEYREJECTED ("TPM unseal
// failed: no key is sealed to slot b's image ..."), a failed attempt of that slot. Otherwise the
// slot PCR is reset and the slot measured, the matching tokens are unsealed one by one, and the
// slot PCR is extended with "boot done" once a key opened the volume; a TPM that cannot unseal
// leaves `failure` set for the recovery paths that follow.
Result<TpmUnlockResult> tpm_unlock(const CryptDevice& cd, const std::string& name,
                                   const TpmUnlockOptions& options);

}  // namespace imageinit::sys
