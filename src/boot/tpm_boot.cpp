// Closing the TPM at hand-over (see tpm_boot.h).
#include "boot/tpm_boot.h"

#include <unistd.h>

#include "base/log.h"
#include "core/tpm_policy.h"
#include "os/tpm2.h"

namespace imageinit::boot {

bool tpm_close_boot(const std::string& kexec_roothash) noexcept {
    try {
        if (::access(kTpmDevice, F_OK) != 0) return true;
        auto tpm = os::Tpm2::open(std::string("device:") + kTpmDevice);
        if (!tpm) {
            // ENOTSUP: this initramfs carries no tpm2-tss, so nothing in it could unseal either.
            if (tpm.error().code == ENOTSUP) return true;
            log::warning("cannot close the TPM for this boot: " + tpm.error().message);
            return false;
        }
        auto r = tpm->pcr_extend(core::kBootPhasePcr,
                                 kexec_roothash.empty() ? core::boot_done_measurement()
                                                        : core::kexec_measurement(kexec_roothash));
        if (r) r = tpm->pcr_extend(core::kSlotPcr, core::boot_done_measurement());
        if (!r) {
            log::warning("cannot close the TPM for this boot: " + r.error().message);
            return false;
        }
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace imageinit::boot
