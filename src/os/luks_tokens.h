// LUKS2 header operations for keys kept outside the header: tokens (JSON by type), key slots
// with a chosen key derivation, and checking or activating one named key slot. Which token or
// slot a boot may use is decided above this layer (core/tpm_policy.h, boot/tpm_unlock.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "os/cryptsetup_lib.h"

namespace imageinit::os {

struct LuksToken {
    int id;
    std::string json;
};
// The header's tokens of TYPE, in id order.
std::vector<LuksToken> read_tokens(const CryptDevice& cd, const std::string& type);
// Adds a token (a JSON object with "type" and "keyslots"); returns its id.
Result<int> add_token(const CryptDevice& cd, const std::string& json);
Result<void> remove_token(const CryptDevice& cd, int id);

// How a new key slot stretches its key: a random machine key needs no stretching (pbkdf2,
// 1000 iterations, like the initramfs key file); a typed recovery key gets argon2id (64 MiB,
// 4 passes), which is also what sends it to the passphrase prompt's slots (os/luks.cpp).
enum class KeyKind { kMachine, kTyped };
// Adds NEW_KEY in a new key slot, authorised by EXISTING (any slot). Returns the slot.
Result<int> add_keyslot(const CryptDevice& cd, const std::vector<uint8_t>& existing,
                        const std::vector<uint8_t>& new_key, KeyKind kind);
Result<void> destroy_keyslot(const CryptDevice& cd, int slot);
// The key slot KEY opens (nothing is activated), or EPERM.
Result<int> keyslot_of(const CryptDevice& cd, const std::vector<uint8_t>& key);
// Activates the volume as NAME with KEY in key SLOT ("" NAME: only checks the key).
Result<void> activate_keyslot(const CryptDevice& cd, const std::string& name, int slot,
                              const std::vector<uint8_t>& key);

}  // namespace imageinit::os
