// Detached PKCS#7 signatures of a dm-verity root hash (NAME.img.roothash.p7s), in the format
// systemd and the kernel use: DER PKCS#7, signed content = the root hash as lower-case hex text
// without a newline (dm-verity's root_hash_sig_key_desc, systemd's RootHashSignature=).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::os {

// Signs ROOTHASH_HEX with the private key KEY_PEM and its certificate CERT_PEM (PEM texts):
// SHA-256, no signed attributes, no certificates embedded (what `openssl smime -sign -binary
// -noattr -nocerts -outform der` writes). Returns the DER bytes.
Result<std::string> sign_root_hash(const std::string& roothash_hex, const std::string& key_pem,
                                   const std::string& cert_pem);

// Verifies that P7S (DER) is a valid signature of ROOTHASH_HEX by one of TRUSTED (PEM texts,
// each holding one or more certificates). The signer must be one of those certificates itself
// (as with the kernel's keyring: no chain, no expiry check; a device may not know the time).
// Returns the signer's subject. EBADMSG: not a PKCS#7 signature, or a signature that does not
// match; EKEYREJECTED: signed by a certificate that is not trusted.
Result<std::string> verify_root_hash(const std::string& roothash_hex, const std::string& p7s,
                                     const std::vector<std::string>& trusted);

// The certificates of a PEM text; EINVAL when it holds none.
Result<size_t> count_certificates(const std::string& pem);

}  // namespace imageinit::os
