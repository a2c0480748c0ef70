// The boot sequence of PID 1, from "devices may exist" to "the new root is ready": find the state
// and persistent partitions, choose a slot, prepare it (loop, mount, spec, mounts, init check),
// and fall back to the next candidate in the same boot when any step fails for a slot.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "boot/boot_report.h"
#include "boot/platform.h"
#include "boot/step_runner.h"
#include "core/boot_record.h"
#include "core/kernel_cmdline.h"
#include "core/mount_plan.h"

namespace imageinit::boot {

namespace paths {
inline constexpr const char* kNewRoot = "/sysroot";
inline constexpr const char* kStateMount = "/run/imageinit/state";
inline constexpr const char* kPersistMount = "/run/imageinit/persist";
inline constexpr const char* kOverlayStore = "/run/imageinit/overlay";
inline constexpr const char* kReportFile = "/run/imageinit/boot.json";
inline constexpr const char* kSlotFile = "/run/imageinit/slot";  // the running slot, one line
inline constexpr const char* kSystemdUnitDir = "systemd/system";   // below /run: runtime units
}  // namespace paths

struct Handover {
    std::string new_root;
    std::string init;
    std::vector<std::string> argv;  // argv[0] is the init path
    bool kexec = false;  // reboot into the loaded slot kernel instead
};

class BootSequence {
public:
    // CMDLINE: this boot's command line, parsed once by the caller; it must outlive the sequence.
    BootSequence(Platform& platform, const core::KernelCmdline& cmdline, StepRunner& steps,
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
    ~BootSequence() { unwind(base_undo_); }

private:
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
        bool kexec = false;  // the slot's own kernel is loaded
    };
    Result<void> find_state();
    Result<void> find_persist();
    // The factory reset between locating PERSIST and using it (boot/reset_step.cpp). DEVICE: the
    // located partition (nullopt: none), replaced by the one the reset worked on. False: PERSIST
    // must not be used this boot.
    bool reset_persist_step(std::optional<std::string>& device);
    Result<std::string> pick_one(const std::string& spec, const std::vector<std::string>& found);
    std::vector<std::string> present_slots(const core::BootRecord& record);
    Result<Prepared> prepare_slot(const std::string& slot);
    Result<Prepared> guarded_prepare_slot(const std::string& slot);
    template <typename T>
    Result<T> slot_step(const std::string& name, const std::string& slot,
                        const std::function<Result<T>()>& fn);
    void save(const core::BootRecord& record);
    Result<void> write_systemd_units(const core::MountPlan& plan);

    Platform& p_;
    const core::KernelCmdline& cmdline_;
    const core::BootConfig& cfg_;  // cmdline_.boot
    StepRunner& steps_;
    Clock::time_point deadline_;
    BootReport report_;
    std::string state_disk_;
    std::string state_device_, persist_device_;  // as mounted (systemd units name them)
    std::optional<Dir> state_root_;
    std::optional<Dir> persist_root_;
    std::optional<Dir> overlay_store_;
    std::vector<Undo> base_undo_;  // state, persist and overlay-store mounts
    std::string failed_step_;      // the step that failed last in prepare_slot
    std::function<bool()> watchdog_reset_;
    std::string persist_reset_;  // the journal line of a factory reset done this boot
};

}  // namespace imageinit::boot
