// Signed slots: the decision table of signature_policy.h.
#include "core/signature_policy.h"

namespace imageinit::core {

Result<SignatureCheck> signature_check(const std::string& subject, const SignatureFacts& f) {
    if (f.trusted_certs == 0) return SignatureCheck::kNotRequired;
    // A slot without verity would be read unverified: a signature of a root hash proves nothing
    // about it, so trusted certificates mean "dm-verity with a signed root hash, or nothing".
    if (!f.has_verity)
        return fail(EKEYREJECTED, signature_failure(subject,
                                                    "no dm-verity data, and this boot chain trusts "
                                                    "only signed images (" +
                                                        std::to_string(f.trusted_certs) +
                                                        " trusted certificate(s))"));
    if (!f.has_signature)
        return fail(EKEYREJECTED, signature_failure(subject, "missing ('" + f.signature_file +
                                                                 "' does not exist)"));
    return SignatureCheck::kUserspace;
}

std::string signature_subject_slot(const std::string& slot) {
    return "slot " + slot + "'s root hash";
}

std::string signature_subject_image(const std::string& image) {
    return "the root hash of '" + image + "'";
}

std::string signature_failure(const std::string& subject, const std::string& reason) {
    return "signature of " + subject + ": " + reason;
}

}  // namespace imageinit::core
