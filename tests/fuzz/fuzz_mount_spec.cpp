// Fuzz body: the mount spec parser and the mount planner. First input byte picks the boot's
// circumstances (slot name, persistent partition present or not); the rest is the spec text.
// Properties: every accepted target is normalised, absolute and not refused; the plan orders
// parents first; and the mount data handed to the kernel carries no path, no overlay directory
// option and no separator hidden from the parser inside quotes.
#include <libmount/libmount.h>
#include <sys/mount.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/mount_plan.h"
#include "core/mount_spec.h"
#include "core/path_rules.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

void check_target(const std::string& target) {
    FUZZ_CHECK(!target.empty() && target.front() == '/', target);
    auto normalized = core::normalize_path(target);
    FUZZ_CHECK(normalized && *normalized == target, target);
    FUZZ_CHECK(!core::is_refused_target(target), target);
}

struct Option {
    std::string key, value;
    bool has_value = false;
};

// The options as libmount reads them (it honours quotes).
std::vector<Option> libmount_options(const std::string& optstr) {
    std::vector<Option> out;
    std::string copy = optstr;
    char* cursor = copy.data();
    char *name = nullptr, *value = nullptr;
    size_t name_size = 0, value_size = 0;
    while (mnt_optstr_next_option(&cursor, &name, &name_size, &value, &value_size) == 0) {
        Option o{std::string(name, name_size), "", value != nullptr};
        if (value != nullptr) o.value.assign(value, value_size);
        out.push_back(std::move(o));
    }
    return out;
}

// SELinux reads these itself before the filesystem sees the data, and understands quotes.
bool is_lsm_context(std::string_view key) {
    return key == "context" || key == "fscontext" || key == "defcontext" || key == "rootcontext";
}

void check_data(const core::PlannedMount& m, const std::string& spec_options) {
    const std::string& data = m.data;
    FUZZ_CHECK(data.find('/') == std::string::npos, m.target + ": " + data);
    for (unsigned char c : data) FUZZ_CHECK(c >= 0x20 && c != 0x7f, m.target + ": " + data);
    std::vector<Option> spec_opts = libmount_options(spec_options);
    for (const Option& o : libmount_options(data)) {
        // The kernel splits mount data at every ',' (fs_context.c, vfs_parse_comma_sep): a
        // quoted ',' would smuggle an option past every check above.
        if (!is_lsm_context(o.key)) {
            FUZZ_CHECK(o.value.find(',') == std::string::npos, m.target + ": " + data);
        }
        // Outside the context options no value holds a ',' (checked above), so each option
        // here is exactly one option for the kernel too: its name is what the kernel sees.
        for (std::string_view dir : {"lowerdir", "upperdir", "workdir", "datadir"}) {
            FUZZ_CHECK(is_lsm_context(o.key) || o.key != dir, m.target + ": " + data);
        }
        FUZZ_CHECK(!o.key.starts_with("x-imageinit."), m.target + ": " + data);
        // The planner passes on what the spec said; it never invents data.
        bool from_spec = false;
        for (const Option& s : spec_opts) {
            from_spec |= s.key == o.key && s.value == o.value && s.has_value == o.has_value;
        }
        FUZZ_CHECK(from_spec, m.target + ": " + data);
    }
}

void check_persist_dir(const std::string& dir, const std::string& slot) {
    FUZZ_CHECK(dir.starts_with("shared/") || dir.starts_with("slots/" + slot + "/"), dir);
    FUZZ_CHECK(dir.find("//") == std::string::npos, dir);
    auto normalized = core::normalize_path("/" + dir);
    FUZZ_CHECK(normalized && *normalized == "/" + dir, dir);
}

}  // namespace

void fuzz_mount_spec(const uint8_t* data, size_t size) {
    if (size == 0) return;
    static const char* const kSlots[] = {"a", "b", "recovery", "../x"};
    core::PlanContext ctx;
    ctx.slot = kSlots[data[0] & 3];
    ctx.persist_available = (data[0] & 4) == 0;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

    auto spec = core::parse_mount_spec(text, "fstab");
    if (!spec) {
        const std::string& msg = spec.error().message;
        FUZZ_CHECK(msg.starts_with("fstab:") && msg.find('\n') == std::string::npos, msg);
        return;
    }
    for (const core::SpecEntry& e : spec->entries) {
        check_target(e.target);
        for (const Option& o : libmount_options(e.options)) {
            FUZZ_CHECK(!o.key.starts_with("x-imageinit."), e.options);  // consumed by the parser
        }
        if (e.kind == core::EntryKind::kPersistBind || e.kind == core::EntryKind::kPersistOverlay) {
            auto p = core::normalize_path(e.persist_path);
            FUZZ_CHECK(p && *p == e.persist_path && *p != "/", e.persist_path);
        }
    }

    auto plan = core::plan_mounts(*spec, ctx);
    if (!plan) {
        const std::string& msg = plan.error().message;
        FUZZ_CHECK(msg.find('\n') == std::string::npos, msg);
        return;
    }
    FUZZ_CHECK(plan->mounts.size() == spec->entries.size(), "a mount was lost or added");
    constexpr unsigned long kActionFlags =
        MS_BIND | MS_REC | MS_REMOUNT | MS_MOVE | MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
    for (size_t i = 0; i < plan->mounts.size(); ++i) {
        const core::PlannedMount& m = plan->mounts[i];
        check_target(m.target);
        FUZZ_CHECK((m.flags & kActionFlags) == 0, m.describe());
        const core::SpecEntry* entry = nullptr;
        for (const core::SpecEntry& e : spec->entries) {
            if (e.line == m.line) entry = &e;
        }
        FUZZ_CHECK(entry != nullptr && entry->target == m.target, m.describe());
        check_data(m, entry->options);
        bool persistent = entry->kind == core::EntryKind::kPersistBind ||
                          entry->kind == core::EntryKind::kPersistOverlay;
        if (persistent) {
            // Files on the writable partition never get setuid or device semantics.
            FUZZ_CHECK((m.flags & (MS_NOSUID | MS_NODEV)) == (MS_NOSUID | MS_NODEV), m.describe());
            FUZZ_CHECK(m.degraded == !ctx.persist_available, m.describe());
        }
        if (!m.persist_dir.empty()) {
            FUZZ_CHECK(persistent && ctx.persist_available, m.describe());
            check_persist_dir(m.persist_dir, ctx.slot);
        }
        if (!m.work_dir.empty()) {
            FUZZ_CHECK(m.work_dir == ".work/" + m.persist_dir, m.work_dir);
        }
        // Parents first: nothing later is an ancestor of this mount (bounded for speed).
        if (plan->mounts.size() <= 256) {
            for (size_t j = i + 1; j < plan->mounts.size(); ++j) {
                FUZZ_CHECK(!core::is_same_or_under(m.target, plan->mounts[j].target),
                           m.target + " before its parent " + plan->mounts[j].target);
            }
        }
    }
    (void)core::format_plan(*plan);
}

}  // namespace imageinit::fuzz
