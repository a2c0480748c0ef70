// The boot sequence of PID 1, from "devices may exist" to "the new root is ready": find the state
// and persistent partitions, choose a slot, prepare it (the step table of slot_attempt.cpp), and
// fall back to the next candidate in the same boot when any step fails for a slot.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "boot/boot_report.h"
#include "boot/reset_persist.h"
#include "boot/seams.h"
#include "boot/step_runner.h"
#include "core/boot_record.h"
#include "core/kernel_cmdline.h"
#include "core/mount_plan.h"
#include "core/mount_spec.h"

namespace imageinit::boot {

namespace paths {
inline constexpr const char* kNewRoot = "/sysroot";
inline constexpr const char* kStateMount = "/run/imageinit/state";
inline constexpr const char* kPersistMount = "/run/imageinit/persist";
inline constexpr const char* kOverlayStore = "/run/imageinit/overlay";
inline constexpr const char* kReportFile = "/run/imageinit/boot.json";
inline constexpr const char* kSlotFile = "/run/imageinit/slot";   // the running slot, one line
inline constexpr const char* kSystemdUnitDir = "systemd/system";  // below /run: runtime units
}  // namespace paths

struct Handover {
    std::string new_root;
    std::string init;
    std::vector<std::string> argv;  // argv[0] is the init path
    bool kexec = false;             // reboot into the loaded slot kernel instead
    // With kexec: the root hash dm-verity verified that slot's image with ("" without verity),
    // which the hand-over measures into PCR 15 (boot/tpm_boot.h).
    std::string kexec_roothash;
};

// The persistent partition as found before the slot loop (find-persist): the device and its
// filesystem type (crypto_LUKS while locked). Opening it is a separate step (open-persist).
struct PersistLocation {
    std::string device;
    std::string fstype;
};

// The persistent partition unlocked and mounted on paths::kPersistMount; dropping it (or
// running its undo) unmounts it and closes the LUKS mapping, in that order.
struct OpenedPersist {
    Dir root;
    std::string device;  // as mounted (the mapping when unlocked)
    std::vector<Undo> undo;
    OpenedPersist() = default;
    OpenedPersist(OpenedPersist&&) = default;
    OpenedPersist& operator=(OpenedPersist&&) = default;
    ~OpenedPersist() { unwind(undo); }
};

class BootSequence {
  public:
    // PLATFORM: the seams, borrowed for the sequence's life. CMDLINE: this boot's command line,
    // parsed once by the caller; it must outlive the sequence.
    BootSequence(Platform platform, const core::KernelCmdline& cmdline, StepRunner& steps,
                 Clock::time_point start);

    // On success every mount is in place under /sysroot, the report is written and the guards
    // are committed: the caller switches root and executes the init. On failure everything done
    // for every slot has been undone and the error says why the last candidate failed.
    Result<Handover> run();

    const BootReport& report() const { return report_; }
    // Asked once, when the record is loaded: did the watchdog reset the machine during the last
    // boot (WDIOF_CARDRESET)? If so that boot's attempt is recorded as a failed try (§14).
    void set_watchdog_reset_probe(std::function<bool()> probe) {
        watchdog_reset_ = std::move(probe);
    }
    // The factory reset's operations on the state partition below its root (boot/reset_persist.h);
    // without them (unit tests) no reset is ever done.
    void set_reset_ops(ResetOpsFactory make) { reset_ops_ = std::move(make); }
    // Undone in reverse order of making: overlay store, persistent partition, state partition.
    ~BootSequence() {
        overlay_undo_.run();
        persist_.reset();
        unwind(base_undo_);
    }

    // What a slot attempt has made so far; its guards unwind when it is dropped.
    struct Prepared {
        Prepared() = default;
        Prepared(Prepared&&) = default;
        ~Prepared() { unwind(undo); }
        std::vector<Undo> undo;
        std::vector<std::string> mounts;
        core::MountPlan plan;  // what apply-mounts made (systemd units are written from it)
        std::vector<std::string> warnings;
        std::string image, fstype, spec_file;
        bool degraded = false;
        bool kexec = false;          // the slot's own kernel is loaded
        std::string kexec_roothash;  // ... from the image verified with this root hash
    };
    // The state one slot attempt passes from step to step (slot_attempt.cpp).
    struct SlotWork {
        std::string slot;
        std::string device;  // the image's block device: the loop device, partition or dm-verity
        bool verity = false;
        std::string roothash;       // what dm-verity verified the image with (the TPM measures it)
        bool open_persist = false;  // a LUKS2 PERSIST is unlocked inside the attempt
        std::optional<Dir> root;    // the mounted image
        core::MountSpec spec;
        Prepared out;
    };
    struct SlotStep {
        const char* name;
        bool (*applies)(const SlotWork&);
        Result<void> (BootSequence::*run)(SlotWork&);
    };
    static const std::vector<SlotStep>& slot_steps();

  private:
    using SlotOutcome = std::variant<Prepared, StepFailure>;
    Result<void> find_state();
    // find-persist: which device, if any (none: a degraded boot, or an error when required).
    Result<std::optional<PersistLocation>> locate_persist();
    // open-persist: unlock (LUKS2) and mount LOCATION; nullopt when that fails (degraded).
    Result<std::optional<OpenedPersist>> open_persist(const PersistLocation& location);
    // reset-persist, inside find-persist (boot/reset_step.cpp): DEVICE is the located partition
    // (nullopt: none), replaced by the one a resumed reset worked on. False: do not use it.
    bool factory_reset(std::optional<std::string>& device);
    // Its body, inside a step; with TPM (in a slot attempt) the TPM2 stage runs first, and its
    // EKEYREJECTED is an error (the slot's attempt fails); every other failure degrades.
    Result<std::optional<OpenedPersist>> open_persist_now(const PersistLocation& location,
                                                          const TpmUnlockOptions* tpm);
    Result<void> degrade(const std::string& why);
    Result<std::string> pick_one(const std::string& spec, const std::vector<std::string>& found);
    std::vector<std::string> present_slots(const core::BootRecord& record);
    SlotOutcome prepare_slot(const std::string& slot);
    // The steps of slot_steps(), in slot_attempt.cpp.
    Result<void> attach_image(SlotWork& w);
    Result<void> open_verity(SlotWork& w);
    // open-persist inside the attempt (persist_attempt.cpp, docs/integrity.md "TPM2").
    Result<void> unlock_persist(SlotWork& w);
    Result<void> mount_image(SlotWork& w);
    Result<void> read_spec(SlotWork& w);
    Result<void> plan_slot_mounts(SlotWork& w);
    Result<void> pre_mount_hooks(SlotWork& w);
    Result<void> apply_mounts(SlotWork& w);
    Result<void> check_init(SlotWork& w);
    Result<void> kexec_load(SlotWork& w);
    Result<void> arm_verity_restart(SlotWork& w);
    Result<void> pre_pivot_hooks(SlotWork& w);
    void save(const core::BootRecord& record);
    Result<void> write_systemd_units(const core::MountPlan& plan);

    Platform p_;
    const core::KernelCmdline& cmdline_;
    const core::BootConfig& cfg_;  // cmdline_.boot
    StepRunner& steps_;
    Clock::time_point deadline_;
    BootReport report_;
    std::string state_disk_;
    std::string state_device_;  // as mounted (systemd units name it)
    std::optional<Dir> state_root_;
    std::optional<OpenedPersist> persist_;
    // A LUKS2 PERSIST: unlocked in each slot attempt, after the slot is measured.
    std::optional<PersistLocation> persist_location_;
    std::optional<Dir> overlay_store_;
    std::vector<Undo> base_undo_;  // the state partition
    Undo overlay_undo_;            // the overlay store (made after the persistent partition)
    std::function<bool()> watchdog_reset_;
    ResetOpsFactory reset_ops_;
    std::string persist_reset_;  // the journal line of a factory reset done this boot
};

inline constexpr const char* kSlotsDir = "slots";  // on the state partition

}  // namespace imageinit::boot
