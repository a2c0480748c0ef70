// The `reset-persist` boot step's executor: runs a core::ResetDecision's operations in order
// through ResetOps, so a test can cut the sequence at every point (tests/unit/reset_persist_test)
// and the real operations (reset_persist_ops.cpp) stay one small call each.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "boot/platform.h"
#include "core/persist_reset.h"

namespace imageinit::boot {

class ResetOps {
  public:
    virtual ~ResetOps() = default;
    // STATE/imageinit/reset-request's text; nullopt when there is none. A symlink, fifo or
    // device node there is an error, never followed (os/safe_open.h).
    virtual Result<std::optional<std::string>> read_request() = 0;
    // The partition at DEVICE as probed now (libblkid): kind, label, UUID, PARTUUID.
    virtual Result<core::PersistFound> identify(const std::string& device) = 0;
    // STATE/imageinit/reset-request replaced atomically (os/atomic_file.h).
    virtual Result<void> write_request(const std::string& content) = 0;
    // Removes STATE/imageinit/reset-request and makes the removal durable (fsync of the dir).
    virtual Result<void> clear_request() = 0;
    virtual Result<std::string> new_key() = 0;  // core::kPersistKeyBytes random bytes
    // STATE/imageinit/persist.key replaced atomically, mode 0400.
    virtual Result<void> write_key(const std::string& key) = 0;
    // A new LUKS2 header on DEVICE (label and UUID of T) whose only key slot opens with KEY.
    virtual Result<void> luks_format(const std::string& device, const core::ResetTarget& t,
                                     const std::string& key) = 0;
    // An empty ext4 on DEVICE (label and UUID of T) or, for a LUKS2 target, inside it (opened
    // with KEY for the time of mkfs); flushed to the disk before it returns.
    virtual Result<void> make_fs(const std::string& device, const core::ResetTarget& t,
                                 const std::string& key) = 0;
};

// Makes the operations for the state partition whose root is STATE_ROOT.
using ResetOpsFactory = std::function<std::unique_ptr<ResetOps>(const Dir& state_root)>;

// Runs D's operations on DEVICE (the resolved /dev path of D.target.device). An error names
// the operation ("luks-format: ..."); whatever it left, the request stays and the next boot
// resumes the reset.
// ON_OP (optional) is told each operation before it runs (the boot logs it: the power-cut test
// waits for "reset-persist: luks-format").
Result<void> execute_reset(const core::ResetDecision& d, const std::string& device, ResetOps& ops,
                           const std::function<void(core::ResetOp)>& on_op = nullptr);

// The reset-persist boot step, between locating the persistent partition and unlocking or
// mounting it.
struct ResetStepInput {
    bool cmdline = false;               // imageinit.reset=persist
    std::optional<std::string> device;  // the partition find-persist located (nullopt: none)
    // Every device matching a spec now (the boot's device lookup): finds the partition an
    // interrupted reset recorded (PARTUUID=...), which its label may no longer name.
    std::function<Result<std::vector<std::string>>(const std::string&)> find_devices;
};
struct ResetStepResult {
    bool reset = false;     // the partition was recreated (its old content is gone)
    bool unusable = false;  // do not unlock or mount the partition this boot (a reset failed)
    std::string device;     // the partition to unlock/mount now (may differ: found by PARTUUID)
    std::string journal;    // for the record's journal and the boot report, when reset
    std::string warning;    // a refused or failed reset (the request stays; the next boot retries)
};
// Never an error: a reset that cannot be done or fails is a warning, and after a failed one
// the partition is left alone (unusable) so the boot goes on degraded.
ResetStepResult reset_persist(ResetOps& ops, const ResetStepInput& in);

}  // namespace imageinit::boot
