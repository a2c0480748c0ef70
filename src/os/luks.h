// Unlocking the LUKS2 persistent partition with libcryptsetup once its header passed the policy:
// the first stage (TPM2), the machine key file, the per-device key, then a passphrase typed on
// the console with bounded retries. Key material lives only in locked memory, wiped after use.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "os/cryptsetup_lib.h"

namespace imageinit::os {

// A key source tried before the key file, with the loaded header that passed the header policy
// (the TPM2 stage, boot/tpm_unlock.h). `how` set: it activated NAME itself. `failure`: why it
// did not, for the log and the prompt. An error ends the unlock with that error.
struct KeyStageResult {
    std::optional<std::string> how;
    std::string failure;
};
using KeyStage =
    std::function<Result<KeyStageResult>(const CryptDevice& cd, const std::string& name)>;

struct LuksUnlockOptions {
    std::string key_file;       // tried first when it exists ("/etc/imageinit/keyfile")
    std::string key_slot_file;  // optional: the key slot the key file belongs to, one number
    // The per-device key on the state partition, tried after the key file: STATE_KEY below
    // STATE_ROOT_FD ("imageinit/persist.key"), opened as a partition file (os/safe_open.h),
    // 32..64 bytes. Skipped when state_root_fd < 0 or the file does not exist.
    int state_root_fd = -1;
    std::string state_key;
    std::string console = "/dev/console";  // where the passphrase is asked for ("" = never ask)
    int passphrase_tries = 3;
    std::chrono::seconds prompt_timeout{60};  // per try; nobody typing ends the prompt
    std::string label;                        // for the prompt: "PERSIST"
    KeyStage first_stage;                     // optional
};

struct LuksUnlocked {
    std::string path;  // /dev/mapper/NAME
    std::string how;   // "key file, key slot 1 (pbkdf2), 23 ms"
};

// DEVICE's LUKS2 header, loaded, and its JSON metadata (crypt_dump_json) for the header policy
// the caller applies before any key is tried (boot/luks_header.h: the boot's unlock and
// `enroll-tpm` both start there).
struct Luks2Header {
    CryptDevice cd;
    std::string json;
};
Result<Luks2Header> load_luks2(const std::string& device);

// Maps CD (DEVICE's header, loaded and past the header policy) as NAME. Errors: EPERM for no key
// that fits (the message says which keys were tried), others from libcryptsetup.
Result<LuksUnlocked> luks_unlock(const CryptDevice& cd, const std::string& device,
                                 const std::string& name, const LuksUnlockOptions& options);

}  // namespace imageinit::os
