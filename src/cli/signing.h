// Signed slot images (contract §16, docs/integrity.md "Signed slots"): `imageinit sign` writes
// IMAGE.roothash.p7s, and install refuses an image the running boot chain would refuse.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "cli/commands.h"

namespace imageinit::cli {

// `imageinit sign IMAGE --key KEY --cert CERT [--trust CERT]`.
int cmd_sign(const std::vector<std::string>& args, const CommonOptions& o);

// Signs IMAGE's root hash (IMAGE.roothash, checked against IMAGE and IMAGE.verity first) with
// KEY and CERT (PEM files) into IMAGE.roothash.p7s (written beside and renamed into place).
// Returns the signer's subject.
Result<std::string> sign_image(const std::string& image, const std::string& key_file,
                               const std::string& cert_file);

// What the running boot chain trusts: RUN_DIR/trust.pem, published by PID 1 when it verified
// the running slot. "" when the boot chain trusts no certificates (then nothing is required).
Result<std::string> running_trust(const std::string& run_dir);

// The check of the boot (boot/signature_check.h) for an image about to be installed, against
// TRUST_PEM: IMAGE.verity + IMAGE.roothash beside IMAGE, matching it block by block, and
// IMAGE.roothash.p7s a valid signature of that root hash. Returns the signer's subject.
Result<std::string> check_image_signature(const std::string& image, const std::string& trust_pem);

}  // namespace imageinit::cli
