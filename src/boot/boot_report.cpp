// Serialises the boot report (see boot_report.h) with the core JSON writer.
#include "boot/boot_report.h"

#include "core/json.h"

namespace imageinit::boot {

std::string failure_summary(const Error& last_error, const BootReport& report) {
    std::string summary = last_error.message;
    for (const auto& f : report.fallbacks)
        summary += "; slot " + f.slot + " failed at " + f.step + ": " + f.reason;
    return summary;
}

std::string report_to_json(const BootReport& r, const std::vector<StepRecord>& steps,
                           uint32_t total_ms) {
    core::JsonWriter w;
    w.begin_object();
    w.key("version").value(1);
    w.key("slot").value(r.slot);
    w.key("why").value(r.why);
    w.key("image").value(r.image);
    w.key("fstype").value(r.fstype);
    w.key("init").value(r.init);
    w.key("degraded").value(r.degraded);
    w.key("last_resort").value(r.last_resort);
    w.key("spec").value(r.spec_file);
    w.key("total_ms").value(total_ms);
    if (!r.persist_reset.empty()) w.key("persist_reset").value(r.persist_reset);
    w.key("warnings").begin_array();
    for (const auto& s : r.warnings) w.value(s);
    w.end_array();
    w.key("fallbacks").begin_array();
    for (const auto& f : r.fallbacks)
        w.begin_object()
            .key("slot")
            .value(f.slot)
            .key("step")
            .value(f.step)
            .key("reason")
            .value(f.reason)
            .end_object();
    w.end_array();
    w.key("steps").begin_array();
    for (const auto& s : steps) {
        w.begin_object().key("name").value(s.name);
        if (!s.slot.empty()) w.key("slot").value(s.slot);
        w.key("ms").value(s.ms).key("ok").value(s.ok);
        if (!s.ok) w.key("error").value(s.error);
        w.end_object();
    }
    w.end_array();
    w.key("mounts").begin_array();
    for (const auto& m : r.mounts) w.value(m);
    w.end_array();
    w.end_object();
    return w.str() + "\n";
}

}  // namespace imageinit::boot
