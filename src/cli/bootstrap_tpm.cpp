// Bootstrap's `--encrypt-persist=tpm2` (docs/device-boot.md): the new PERSIST gets enroll-tpm's
// enrolment (a key sealed to each installed image, a recovery key), and the key that formatted
// it is destroyed, so that no key of PERSIST is left on the disk.
#include <set>

#include "boot/luks_header.h"
#include "cli/bootstrap.h"
#include "cli/tpm_enroll.h"
#include "os/luks_tokens.h"
#include "os/tpm2.h"

namespace imageinit::cli {

Result<void> check_tpm() {
    auto tpm = os::Tpm2::open(tpm_interface());
    if (!tpm)
        return Unexpected(
            with_context(std::move(tpm).error(),
                         "--encrypt-persist=tpm2 needs a TPM2 ('" + tpm_interface() + "')"));
    return ok();
}

Result<std::string> seal_persist(const std::string& disk, const core::PartitionPlan& persist,
                                 const std::string& format_key,
                                 const std::map<std::string, std::string>& roothashes) {
    std::set<std::string> hashes;
    for (const auto& [slot, hash] : roothashes) hashes.insert(hash);
    if (hashes.empty()) return fail(EINVAL, "no image to seal PERSIST's key to");
    os::Tpm2 tpm = TRY(os::Tpm2::open(tpm_interface()));
    auto loop = TRY(attach_part(disk, persist));
    os::CryptDevice cd = TRY(boot::load_luks2_checked(loop.path));
    std::vector<uint8_t> key(format_key.begin(), format_key.end());
    auto sealed = [&]() -> Result<Enrolment> {
        int format_slot = TRY(os::keyslot_of(cd, key));
        Enrolment e = TRY(enroll_sealed_key(cd, tpm, key, hashes, std::nullopt));
        TRY_CTX(os::destroy_keyslot(cd, format_slot), "retiring the format key");
        return e;
    }();
    ::explicit_bzero(key.data(), key.size());
    if (!sealed) return Unexpected(std::move(sealed).error());
    TRY(sync_part(loop, disk));
    return sealed->recovery;
}

}  // namespace imageinit::cli
