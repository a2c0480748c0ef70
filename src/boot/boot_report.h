// The boot report, /run/imageinit/boot.json (contract §7): which slot booted and why, every
// fallback with its reason, each step's duration, the mounts made, and whether the boot is
// degraded. Written just before the hand-over; read by `imageinit status` in the booted OS.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "boot/step_runner.h"

namespace imageinit::boot {

struct Fallback {
    std::string slot;
    std::string step;
    std::string reason;
};

struct BootReport {
    std::string slot;   // the slot handed over to
    std::string why;    // "primary, good", "fallback: ...", "forced by ..."
    std::string image;  // file or device of the slot
    std::string fstype;
    std::string init;
    bool degraded = false;
    bool last_resort = false;
    std::vector<std::string> warnings;
    std::vector<Fallback> fallbacks;
    std::vector<std::string> mounts;  // PlannedMount::describe() of each mount made
    std::string spec_file;            // "/etc/imageinit/fstab" or "(default spec)"
    std::string persist_reset;        // "factory reset of PERSIST ..." when this boot did one
};

// The one-line summary of a boot where no slot could be prepared: the last error, then every
// fallback with its step and reason (the console and kmsg line of contract §4.5).
std::string failure_summary(const Error& last_error, const BootReport& report);

std::string report_to_json(const BootReport& report, const std::vector<StepRecord>& steps,
                           uint32_t total_ms);

}  // namespace imageinit::boot
