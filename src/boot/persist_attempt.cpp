// open-persist inside a slot attempt (docs/integrity.md, "TPM2"): a LUKS2 persistent partition
// is unlocked after the slot's image is verified, with that image's root hash measured into the
// TPM, so a key sealed to the proven images opens only for them. A failed attempt closes it
// again; the next slot's attempt measures and unlocks from scratch.
#include "boot/boot_sequence.h"
#include "boot/tpm_unlock.h"

namespace imageinit::boot {

Result<void> BootSequence::unlock_persist(SlotWork& w) {
    TpmUnlockOptions tpm;
    tpm.slot = w.slot;
    tpm.roothash = w.roothash;
    tpm.key_copy = kTpmKeyCopy;
    // The boot of a slot's own kernel, kexec'd by imageinit (docs/integrity.md, "A slot with its
    // own kernel"). The marker only picks which keys to try; the TPM's PCR 15 decides.
    if (cmdline_.kexec_marker) tpm.stage = core::TpmStage::kKexec;
    persist_ = TRY(open_persist_now(*persist_location_, &tpm));
    // Unwound with the attempt's other guards (before the verity device it was measured from).
    w.out.undo.push_back(Undo([this] { persist_.reset(); }));
    return ok();
}

}  // namespace imageinit::boot
