// TPM2-sealed PERSIST keys in the booted OS (docs/integrity.md, "TPM2"): `enroll-tpm`, the
// enrolment of a new image by `install`, and the retirement of old images' keys by `mark-good`.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "cli/commands.h"

namespace imageinit::cli {

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
