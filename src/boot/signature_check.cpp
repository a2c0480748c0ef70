// Signed slots at boot (see signature_check.h): the policy of core/signature_policy.h with the
// files of the initramfs and the state partition, verified by os/root_hash_signature.h.
#include "boot/signature_check.h"

#include "boot/boot_sequence.h"
#include "core/signature_policy.h"
#include "os/isolated.h"
#include "os/root_hash_signature.h"
#include "os/verity.h"

namespace imageinit::boot {
namespace {

constexpr size_t kMaxTrustFile = 1 << 20;   // a few dozen certificates at most
constexpr size_t kMaxSignature = 64 << 10;  // a PKCS#7 of one RSA-4096 signature is < 1 KiB

}  // namespace

bool signatures_required(RootFs& p) { return p.file_exists(kTrustFile); }

Result<std::string> check_slot_signature(RootFs& p, const std::string& slot,
                                         const std::string& roothash, const Dir& state_root) {
    const std::string subject = core::signature_subject_slot(slot);
    if (!signatures_required(p)) return std::string();
    // Fail closed: an initramfs that should trust certificates but cannot read them (or has no
    // libcrypto) boots nothing rather than everything.
    auto pem = p.read_file(kTrustFile, kMaxTrustFile);
    if (!pem) return fail(pem.error().code, core::signature_failure(subject, pem.error().message));
    auto count = os::count_certificates(*pem);
    if (!count)
        return fail(count.error().code,
                    core::signature_failure(
                        subject, std::string("'") + kTrustFile + "': " + count.error().message));
    const std::string rel = "slots/" + slot + ".img.roothash.p7s";
    core::SignatureFacts facts;
    facts.trusted_certs = *count;
    facts.has_verity = !roothash.empty();
    facts.has_signature = p.file_exists(std::string(paths::kStateMount) + "/" + rel);
    facts.signature_file = rel;
    TRY(core::signature_check(subject, facts));
    auto p7s = p.read_on_partition(state_root, rel, kMaxSignature);
    if (!p7s) return fail(p7s.error().code, core::signature_failure(subject, p7s.error().message));
    auto hex = os::parse_roothash(roothash);
    if (!hex) return fail(hex.error().code, core::signature_failure(subject, hex.error().message));
    // The signature is the attacker's bytes: parsed in a child, so a crash costs this slot.
    auto signer = os::run_isolated("verifying the signature", [&]() -> Result<std::string> {
        return os::verify_root_hash(*hex, *p7s, {*pem});
    });
    if (!signer)
        return fail(signer.error().code, core::signature_failure(subject, signer.error().message));
    // The booted OS learns what this boot chain trusts (install refuses what it would refuse).
    (void)p.write_file(kPublishedTrustFile, *pem);
    return "root hash signed by '" + *signer + "'";
}

}  // namespace imageinit::boot
