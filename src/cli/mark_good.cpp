// `imageinit mark-good [--no-checks]`: the image's health checks (contract §13) decide, then
// the running slot becomes good and primary. The checks' results are kept beside the record.
#include <cstdlib>

#include "base/log.h"
#include "boot/health_checks.h"
#include "boot/real_platform.h"
#include "cli/options.h"
#include "cli/print.h"
#include "cli/tpm_enroll.h"
#include "core/slot_select.h"

namespace imageinit::cli {
namespace {

struct MarkGoodOptions {
    bool checks = true;
    std::string health_dir = boot::kHealthDir;
    std::chrono::milliseconds limit = boot::kHealthCheckTimeLimit;
};

Result<MarkGoodOptions> parse(const std::vector<std::string>& args) {
    MarkGoodOptions m;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--no-checks") {
            m.checks = false;
        } else if (a == "--health-dir" && i + 1 < args.size()) {
            m.health_dir = args[++i];
        } else if (a == "--check-timeout" && i + 1 < args.size()) {
            const std::string& v = args[++i];
            char* end = nullptr;
            long s = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || s <= 0 || s > 86400)
                return fail(EINVAL,
                            "mark-good: --check-timeout takes seconds (1-86400), not '" + v + "'");
            m.limit = std::chrono::seconds(s);
        } else {
            return fail(EINVAL, "mark-good: unknown argument '" + a + "'");
        }
    }
    return m;
}

// Runs the checks, logs each failure once (stderr: the journal under systemd) and keeps the
// report on the state partition. Returns whether the slot may be proven.
bool health_gate(const MarkGoodOptions& m, RecordHandle& h, const std::string& slot) {
    boot::RealProcesses p;
    auto outcomes = boot::run_health_checks(p, m.health_dir, slot, m.limit);
    auto verdict = boot::judge_health(outcomes, m.limit);
    for (const auto& w : verdict.failed_wanted)
        log::warning("wanted health check " + w + " (a warning only)");
    for (const auto& f : verdict.failed_required) log::error("required health check " + f);
    if (outcomes.empty()) return true;  // no checks: nothing to keep either
    std::string report =
        boot::health_report(slot, h.loaded.record.boot_count, outcomes, verdict, m.limit);
    boot::RealRootFs files;
    auto dir = files.make_dirs(h.state, boot::kHealthReportDir);
    auto kept = dir ? files.write_file_atomic(*dir, boot::kHealthReportFile, report)
                    : Result<void>(Unexpected(dir.error()));
    if (!kept) log::warning("cannot keep the health check results: " + kept.error().message);
    return verdict.healthy();
}

}  // namespace

std::string last_health_report(RecordHandle& h) {
    boot::RealRootFs p;
    auto text = p.read_in_root(
        h.state, "/" + std::string(boot::kHealthReportDir) + "/" + boot::kHealthReportFile,
        boot::kHealthReportMax);
    return text ? *text : std::string();
}

int cmd_mark_good(const std::vector<std::string>& args, const CommonOptions& o) {
    auto m = parse(args);
    if (!m) {
        log::error(m.error().message);
        return 2;
    }
    auto slot = running_slot(o);
    if (!slot) return report_error(slot.error());
    auto h = open_record(o);
    if (!h) return report_error(h.error());
    if (m->checks && !health_gate(*m, *h, *slot)) {
        auto s = h->loaded.record.slots.find(*slot);
        if (s != h->loaded.record.slots.end() && s->second.health == core::SlotHealth::kTrying) {
            log::error("slot " + *slot + " stays unproven (" + core::describe_slot(s->second) +
                       "): each reboot counts a try down, then the proven slot boots");
            return kExitUnproven;
        }
        log::error("slot " + *slot + " is left as it is (" +
                   (s == h->loaded.record.slots.end() ? std::string("no state")
                                                      : core::describe_slot(s->second)) +
                   "): a reboot would not change it");
        return 1;
    }
    auto updated = core::mark_good(h->loaded.record, *slot);
    if (!updated) return report_error(updated.error());
    if (auto r = save_record(*h, *updated); !r) return report_error(r.error());
    out("slot ", *slot, " is good and primary\n");
    // Keys sealed to images no slot holds any more are retired (docs/integrity.md, "TPM2").
    if (auto retired = tpm_retire_old_images(o); !retired)
        log::warning("could not retire old TPM-sealed keys: " + retired.error().message);
    else if (*retired > 0)
        out("tpm: retired ", *retired, " key(s) sealed to images no longer installed\n");
    return 0;
}

}  // namespace imageinit::cli
