// Hook ordering, environment and outcome policy (see hooks.h). Listing and running go through
// boot::Processes, so this file makes no system calls of its own.
#include "boot/hooks.h"

#include <algorithm>

#include "base/log.h"

namespace imageinit::boot {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_leftover(const std::string& name) {
    return name.empty() || name[0] == '.' || ends_with(name, "~") || ends_with(name, ".bak") ||
           name.find(".dpkg-") != std::string::npos || name.find(".rpm") != std::string::npos;
}

}  // namespace

std::vector<std::string> order_hooks(std::vector<std::string> names) {
    names.erase(std::remove_if(names.begin(), names.end(), is_leftover), names.end());
    // std::string compares bytes as unsigned char: the C locale's order, whatever LANG says.
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::vector<std::string> hook_environment(const HookContext& ctx) {
    return {
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "IMAGEINIT_STAGE=" + ctx.stage,
        "IMAGEINIT_SLOT=" + ctx.slot,
        "IMAGEINIT_ROOT=" + ctx.root,
        "IMAGEINIT_PERSIST=" + (ctx.degraded ? std::string() : ctx.persist),
        std::string("IMAGEINIT_DEGRADED=") + (ctx.degraded ? "1" : "0"),
    };
}

Result<void> judge_hook(const HookContext& ctx, const HookOutcome& outcome,
                        std::chrono::milliseconds limit, std::vector<std::string>& warnings) {
    std::string who = "hook " + ctx.stage + "/" + outcome.name + " (slot " + ctx.slot + ")";
    if (!outcome.run) {
        warnings.push_back(who + ": " + outcome.run.error().message);
        return ok();
    }
    const os::ProcessResult& r = *outcome.run;
    if (!r.timed_out && r.signal == 0 && r.exit_code == 0) return ok();
    if (!r.timed_out && r.signal == 0 && r.exit_code == kHookRejectsSlot)
        return fail(EPERM, who + " rejected the slot (exit status " +
                               std::to_string(kHookRejectsSlot) + ")");
    warnings.push_back(who + " failed: " + os::describe(r, limit) + "; the boot goes on");
    return ok();
}

Result<void> run_hook_stage(Processes& p, const HookContext& ctx, const std::string& dir,
                            std::chrono::milliseconds limit, std::vector<std::string>& warnings) {
    std::string stage_dir = dir + "/" + ctx.stage;
    auto listed = p.list_executables(stage_dir);
    if (!listed) {
        warnings.push_back("hooks: " + listed.error().message);
        return ok();
    }
    auto env = hook_environment(ctx);
    for (const auto& name : order_hooks(*listed)) {
        log::info("running hook " + ctx.stage + "/" + name);
        HookOutcome outcome{name, p.run_program({stage_dir + "/" + name}, env, limit)};
        TRY(judge_hook(ctx, outcome, limit, warnings));
    }
    return ok();
}

}  // namespace imageinit::boot
