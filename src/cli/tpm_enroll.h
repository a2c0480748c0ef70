// TPM2-sealed PERSIST keys (docs/integrity.md, "TPM2"): `enroll-tpm`, the enrolment of a new
// image by `install`, the retirement of old images' keys by `mark-good`, and the enrolment
// `bootstrap --encrypt-persist=tpm2` makes on a new PERSIST.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "cli/commands.h"
#include "core/sha256.h"
#include "os/cryptsetup_lib.h"
#include "os/tpm2.h"

namespace imageinit::cli {

// What an enrolment made: a fresh random key in its own key slot, sealed to each image, and a
// recovery key in another (argon2id), whose text the caller prints once.
struct Enrolment {
    int tpm_slot = -1;
    int recovery_slot = -1;
    std::string recovery;  // "xxxx-xxxx-...": the typed recovery key
    size_t images = 0;
    bool secure_boot = false;
    std::vector<uint8_t> key;  // the sealed key (wiped on destruction)
    Enrolment() = default;
    Enrolment(Enrolment&&) noexcept = default;
    ~Enrolment();
};
// The one enrolment (enroll-tpm and bootstrap): authorised by EXISTING (any key of PERSIST's
// header CD), adds the sealed key and a recovery key, seals to each of ROOTHASHES (PCR 15 = 0,
// PCR 23 pre-computed, PCR 7 = SECURE_BOOT when given) checking each sealed object loads, then
// removes the previous sealed key, tokens and recovery key (so a re-enrolment rotates them).
Result<Enrolment> enroll_sealed_key(const os::CryptDevice& cd, os::Tpm2& tpm,
                                    const std::vector<uint8_t>& existing,
                                    const std::set<std::string>& roothashes,
                                    const std::optional<core::Sha256Digest>& secure_boot);
// "PERSIST: sealed to the TPM for N image(s) ... Recovery key ...: xxxx-..." for the console.
std::string describe_enrolment(const Enrolment& e);

// The TPM the booted-OS commands use: IMAGEINIT_TPM (tests: swtpm), else /dev/tpmrm0.
std::string tpm_interface();

int cmd_enroll_tpm(const std::vector<std::string>& args, const CommonOptions& o);

// Before `install` writes a byte: whether PERSIST's key is sealed to the TPM, and if so that the
// new image can be enrolled (it needs --verity, and the key kept by this boot's unlock).
Result<bool> tpm_install_precheck(const CommonOptions& o, bool verity);
// After the image and its root hash are written: seals the key to ROOTHASH's slot measurement
// and checks the sealed object loads with the pre-computed policy. Returns a line for the user.
Result<std::string> tpm_enroll_image(const CommonOptions& o, const std::string& roothash);
// `mark-good`: removes the tokens of images no slot holds any more. Returns how many.
Result<int> tpm_retire_old_images(const CommonOptions& o);

}  // namespace imageinit::cli
