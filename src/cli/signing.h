// Signed slot images (contract §16, docs/integrity.md "Signed slots"): `imageinit sign` writes
// IMAGE.roothash.p7s, and install refuses an image the running boot chain would refuse.
#pragma once

#include <optional>
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

// The boot's signature decision (core/signature_policy.h, as boot/signature_check.h applies it)
// for IMAGE, whose verity root hash is ROOTHASH (hex text; nullopt: IMAGE has no verity data),
// against TRUST_PEM: IMAGE.roothash.p7s must be a valid signature of it by one of those
// certificates. Refusals read as the boot's ("signature of the root hash of 'x.img': ...").
// Returns the signer's subject ("" when TRUST_PEM holds no certificate). Reads no image block.
Result<std::string> check_root_hash_signature(const std::string& image,
                                              const std::optional<std::string>& roothash,
                                              const std::string& trust_pem);

// The check of the boot (boot/signature_check.h) for an image about to be installed, against
// TRUST_PEM: IMAGE.verity + IMAGE.roothash beside IMAGE, matching it block by block, and
// IMAGE.roothash.p7s a valid signature of that root hash. Returns the signer's subject.
Result<std::string> check_image_signature(const std::string& image, const std::string& trust_pem);

// The certificates of `--trust CERT...` (PEM files), concatenated as mkinitrd puts them into
// the initramfs.
Result<std::string> read_trust_files(const std::vector<std::string>& certs);

}  // namespace imageinit::cli
