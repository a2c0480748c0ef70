// Initramfs hooks (contract §9): executables under /usr/lib/imageinit/hooks/STAGE/, run in
// lexical order with the slot, the new root and the persistent mount point in their
// environment, each under a time limit. The policy lives here; see docs/hooks.md.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"
#include "boot/seams.h"

namespace imageinit::boot {

inline constexpr const char* kHooksDir = "/usr/lib/imageinit/hooks";
inline constexpr const char* kStagePreMount = "pre-mount";
inline constexpr const char* kStagePrePivot = "pre-pivot";
inline constexpr std::chrono::seconds kHookTimeLimit{30};
// The one exit status that means "this slot must not boot": the slot fails and the next
// candidate is tried in the same boot. Any other failure is a warning (docs/hooks.md says why).
inline constexpr int kHookRejectsSlot = 100;

struct HookContext {
    std::string stage;    // pre-mount | pre-pivot
    std::string slot;     // the slot being prepared
    std::string root;     // the new root (/sysroot)
    std::string persist;  // the persistent partition's mount point; empty when degraded
    bool degraded = false;
};

// The hooks to run, in order: names sorted bytewise (C locale), without hidden files (".x") and
// editor leftovers ("x~", "x.bak", "x.dpkg-*", "x.rpm*"), which are never meant to run.
std::vector<std::string> order_hooks(std::vector<std::string> names);

// Exactly the environment a hook gets: a fixed PATH plus the IMAGEINIT_* variables.
std::vector<std::string> hook_environment(const HookContext& ctx);

// What one hook's outcome means for the boot: ok (exit 0), a warning (appended to WARNINGS:
// any other exit, a signal, a timeout, or a hook that cannot be executed), or an error that
// fails the slot (exit kHookRejectsSlot).
struct HookOutcome {
    std::string name;
    Result<os::ProcessResult> run;
};
Result<void> judge_hook(const HookContext& ctx, const HookOutcome& outcome,
                        std::chrono::milliseconds limit, std::vector<std::string>& warnings);

// Runs every hook of CTX.stage found under DIR through the platform, stopping at the first
// that rejects the slot. Warnings go to WARNINGS (the caller logs them and puts them in the
// boot report).
Result<void> run_hook_stage(Processes& p, const HookContext& ctx, const std::string& dir,
                            std::chrono::milliseconds limit, std::vector<std::string>& warnings);

}  // namespace imageinit::boot
