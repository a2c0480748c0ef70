// The reset-persist part of find-persist (contract §14): runs boot/reset_persist.h's step with
// the platform's operations and reports what it did (log, boot report, journal line).
#include "boot/boot_sequence.h"
#include "sys/log.h"

namespace imageinit::boot {

bool BootSequence::reset_persist_step(std::optional<std::string>& device) {
    std::unique_ptr<ResetOps> ops = p_.reset_ops(*state_root_);
    if (!ops) return true;  // a platform that cannot reset (unit-test fakes)
    ResetStepInput in;
    in.cmdline = cfg_.reset_persist;
    in.device = device;
    in.find_devices = [this](const std::string& spec) { return p_.find_devices(spec); };
    ResetStepResult r = reset_persist(*ops, in);
    if (!r.warning.empty()) {
        log::warning(r.warning);
        report_.warnings.push_back(r.warning);
    }
    if (r.reset) {
        log::notice(r.journal);
        persist_reset_ = r.journal;
        report_.persist_reset = r.journal;
    }
    if (r.unusable) return false;
    if (!r.device.empty()) device = r.device;
    return true;
}

}  // namespace imageinit::boot
