// Signed slots (contract §16, docs/integrity.md "Signed slots"): which checks a slot's root hash
// needs before it is used, and the one wording of every refusal. Shared by the boot and install.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::core {

// What is known about a slot (or an image about to be installed) before anything is activated.
struct SignatureFacts {
    size_t trusted_certs = 0;    // certificates of the initramfs; 0: signatures not required
    bool has_verity = false;     // any verity data (a pinned root hash or a sidecar)
    bool has_signature = false;  // the .roothash.p7s file exists
    std::string signature_file;  // its name, for messages ("slots/b.img.roothash.p7s")
};

enum class SignatureCheck {
    kNotRequired,  // no trusted certificates: as before signatures existed (a .p7s is ignored)
    kUserspace,    // verify the .p7s with libcrypto against the trusted certificates
    // (the kernel keyring path, crypt_activate_by_signed_key, is not built yet:
    // docs/integrity.md "Where the signature is verified")
};

// The check SUBJECT ("slot b's root hash", see signature_subject_*) needs, or why it is refused
// outright (no verity data, no signature), worded by signature_failure.
Result<SignatureCheck> signature_check(const std::string& subject, const SignatureFacts& facts);

std::string signature_subject_slot(const std::string& slot);    // "slot b's root hash"
std::string signature_subject_image(const std::string& image);  // "the root hash of 'x.img'"

// "signature of SUBJECT: REASON": every refusal reads the same in the journal and in install.
std::string signature_failure(const std::string& subject, const std::string& reason);

}  // namespace imageinit::core
