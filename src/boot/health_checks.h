// Health checks (contract §13): executables in the booted image under
// /etc/imageinit/health.d/required/ and .../wanted/, run in lexical order with a time limit by
// `imageinit mark-good`. A failing required check keeps the slot unproven; a wanted one warns.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "boot/seams.h"

namespace imageinit::boot {

inline constexpr const char* kHealthDir = "/etc/imageinit/health.d";
inline constexpr std::chrono::seconds kHealthCheckTimeLimit{60};
// The tail of a check's output that is kept (the journal line, the state partition, status).
inline constexpr size_t kHealthOutputMax = 1024;
// The last run's results, beside the boot-state record (imageinit/state stays strictly the
// record: its decoder refuses anything else).
inline constexpr const char* kHealthReportDir = "imageinit";
inline constexpr const char* kHealthReportFile = "health";
inline constexpr size_t kHealthReportMax = 16384;

enum class CheckKind { kRequired, kWanted };
const char* check_kind_name(CheckKind kind);  // "required", "wanted"

struct CheckOutcome {
    CheckKind kind;
    std::string name;               // file name in the kind's directory
    Result<os::ProcessResult> run;  // an error: the check could not be started
};

struct HealthVerdict {
    int ran = 0;
    // "required/10-app: exit status 1: <last output line>", one per failed check.
    std::vector<std::string> failed_required;
    std::vector<std::string> failed_wanted;
    bool healthy() const { return failed_required.empty(); }
};

// What the outcomes mean: only an exit status of 0 passes. A check that times out, is killed
// or cannot be executed has failed too (a check that cannot run has proven nothing).
HealthVerdict judge_health(const std::vector<CheckOutcome>& outcomes,
                           std::chrono::milliseconds limit);

// The text kept in kHealthReportPath and printed by `status`: a summary line naming the slot
// and the boot, then one line per check with its output indented ("  | ...").
std::string health_report(const std::string& slot, uint64_t boot,
                          const std::vector<CheckOutcome>& outcomes, const HealthVerdict& verdict,
                          std::chrono::milliseconds limit);

// Exactly the environment a check gets: a fixed PATH, the running slot and the check's kind.
std::vector<std::string> health_environment(const std::string& slot, CheckKind kind);

// Runs the required checks, then the wanted ones, found under DIR (kHealthDir), each in the
// order of order_hooks and under LIMIT, with their output captured. A missing directory has
// no checks; one that cannot be listed fails as a required check would.
std::vector<CheckOutcome> run_health_checks(Processes& p, const std::string& dir,
                                            const std::string& slot,
                                            std::chrono::milliseconds limit);

}  // namespace imageinit::boot
