// Health check policy and runner (see health_checks.h). Listing and running go through
// boot::Processes (the hooks' runner, os::run_process), so this file makes no system calls.
#include "boot/health_checks.h"

#include "boot/hooks.h"
#include "core/boot_record.h"

namespace imageinit::boot {
namespace {

std::string label(const CheckOutcome& o) {
    return std::string(check_kind_name(o.kind)) + "/" + o.name;
}

bool passed(const CheckOutcome& o) {
    return o.run && !o.run->timed_out && o.run->signal == 0 && o.run->exit_code == 0;
}

// Output lines without the trailing empty one, each made safe for one log line.
std::vector<std::string> output_lines(const std::string& output) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < output.size()) {
        size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        lines.push_back(core::one_line(std::string_view(output).substr(start, end - start)));
        start = end + 1;
    }
    return lines;
}

std::string what_happened(const CheckOutcome& o, std::chrono::milliseconds limit) {
    if (!o.run) return o.run.error().message;
    return passed(o) ? "ok" : os::describe(*o.run, limit);
}

}  // namespace

const char* check_kind_name(CheckKind kind) {
    return kind == CheckKind::kRequired ? "required" : "wanted";
}

HealthVerdict judge_health(const std::vector<CheckOutcome>& outcomes,
                           std::chrono::milliseconds limit) {
    HealthVerdict v;
    for (const auto& o : outcomes) {
        ++v.ran;
        if (passed(o)) continue;
        std::string line = label(o) + ": " + what_happened(o, limit);
        if (o.run) {
            auto lines = output_lines(o.run->output);
            while (!lines.empty() && lines.back().find_first_not_of(' ') == std::string::npos)
                lines.pop_back();
            if (!lines.empty()) line += ": " + lines.back();
        }
        (o.kind == CheckKind::kRequired ? v.failed_required : v.failed_wanted).push_back(line);
    }
    return v;
}

std::string health_report(const std::string& slot, uint64_t boot,
                          const std::vector<CheckOutcome>& outcomes, const HealthVerdict& verdict,
                          std::chrono::milliseconds limit) {
    std::string out = "slot " + slot + ", boot " + std::to_string(boot) + ": ";
    if (!verdict.healthy())
        out += "UNHEALTHY (" + std::to_string(verdict.failed_required.size()) +
               " required check(s) failed; the slot stays unproven)\n";
    else if (!verdict.failed_wanted.empty())
        out += "healthy, with " + std::to_string(verdict.failed_wanted.size()) +
               " wanted check(s) failed\n";
    else
        out += "healthy (" + std::to_string(verdict.ran) + " check(s) passed)\n";
    for (const auto& o : outcomes) {
        out += label(o) + ": " + what_happened(o, limit) + "\n";
        if (!o.run || passed(o)) continue;
        for (const auto& l : output_lines(o.run->output)) out += "  | " + l + "\n";
    }
    // Bounded whatever the checks print: kHealthOutputMax per check keeps it far below this.
    if (out.size() > kHealthReportMax) out.resize(kHealthReportMax);
    return out;
}

std::vector<std::string> health_environment(const std::string& slot, CheckKind kind) {
    return {
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "IMAGEINIT_SLOT=" + slot,
        std::string("IMAGEINIT_CHECK=") + check_kind_name(kind),
    };
}

std::vector<CheckOutcome> run_health_checks(Processes& p, const std::string& dir,
                                            const std::string& slot,
                                            std::chrono::milliseconds limit) {
    std::vector<CheckOutcome> outcomes;
    for (CheckKind kind : {CheckKind::kRequired, CheckKind::kWanted}) {
        std::string kind_dir = dir + "/" + check_kind_name(kind);
        auto listed = p.list_executables(kind_dir);
        if (!listed) {
            outcomes.push_back({kind, "(directory)", Unexpected(listed.error())});
            continue;
        }
        auto env = health_environment(slot, kind);
        for (const auto& name : order_hooks(*listed))
            outcomes.push_back(
                {kind, name, p.run_program({kind_dir + "/" + name}, env, limit, kHealthOutputMax)});
    }
    return outcomes;
}

}  // namespace imageinit::boot
