// The reset-persist step inside find-persist (contract §14): runs boot/reset_persist.h's step
// with the operations set_reset_ops gave, and reports what it did (log, boot report, journal).
#include "base/log.h"
#include "boot/boot_sequence.h"

namespace imageinit::boot {

bool BootSequence::factory_reset(std::optional<std::string>& device) {
    if (!reset_ops_) return true;  // unit tests: no reset
    std::unique_ptr<ResetOps> ops = reset_ops_(*state_root_);
    // A boot with nothing asked (no request file, no imageinit.reset) has no reset-persist step.
    auto pending = ops->read_request();
    if (!cfg_.reset_persist && pending && !*pending) return true;
    ResetStepResult r;
    (void)steps_.run<void>("reset-persist", "", [&]() -> Result<void> {
        ResetStepInput in;
        in.cmdline = cfg_.reset_persist;
        in.device = device;
        in.find_devices = [this](const std::string& spec) { return p_.devices.find_devices(spec); };
        r = reset_persist(*ops, in);
        return ok();
    });
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
