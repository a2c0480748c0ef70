// Mount planning (see mount_plan.h): turns validated spec entries into ordered mounts with
// kernel flags and data, picks directories on the persistent partition, and degrades
// persistent entries to temporary ones when that partition is missing.
#include "core/mount_plan.h"

#include <libmount/libmount.h>
#include <sys/mount.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/cmdline.h"
#include "core/path_rules.h"

namespace imageinit::core {
namespace {

struct FreeDeleter {
    void operator()(char* p) const { free(p); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

// Flags the planner never hands out: the action decides bind versus new mount, and the spec
// parser already refuses the options that would set the rest.
constexpr unsigned long kActionFlags =
    MS_BIND | MS_REC | MS_REMOUNT | MS_MOVE | MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

struct SplitOptions {
    unsigned long flags = 0;
    std::string data;
    bool explicit_suid = false;
    bool explicit_dev = false;
};

// libmount reads `size="1,huge=always"` as one option, but the kernel splits mount data at every
// ',' (fs/fs_context.c, vfs_parse_comma_sep), so a quoted ',' would hand the filesystem options
// that no check here has seen. Only the SELinux context options may carry one: the LSM takes
// them out of the data, quotes and all, before the filesystem parses the rest.
Result<void> check_no_quoted_separator(const SpecEntry& entry, const std::string& data) {
    std::string copy = data;
    char* cursor = copy.data();
    char *name = nullptr, *value = nullptr;
    size_t name_size = 0, value_size = 0;
    while (mnt_optstr_next_option(&cursor, &name, &name_size, &value, &value_size) == 0) {
        std::string_view key(name, name_size);
        if (value == nullptr || std::string_view(value, value_size).find(',') == key.npos) continue;
        if (key == "context" || key == "fscontext" || key == "defcontext" || key == "rootcontext")
            continue;
        return fail(entry.file + ":" + std::to_string(entry.line) + ": option " + quote_text(key) +
                    " has a ',' in its value: the kernel would split it there");
    }
    return ok();
}

// libmount sorts options into VFS options (MS_* flags, per its Linux option map), userspace
// options (auto, _netdev, x-*, comment=: for mount(8), not the kernel; dropped) and the rest,
// which is filesystem data.
Result<SplitOptions> split_options(const SpecEntry& entry) {
    SplitOptions out;
    char *user = nullptr, *vfs = nullptr, *fs = nullptr;
    if (mnt_split_optstr(entry.options.c_str(), &user, &vfs, &fs, 0, 0) != 0) {
        return fail(entry.file + ":" + std::to_string(entry.line) + ": cannot parse options " +
                    quote_text(entry.options));
    }
    CString user_owner(user), vfs_owner(vfs), fs_owner(fs);
    if (vfs != nullptr) {
        const struct libmnt_optmap* linux_map = mnt_get_builtin_optmap(MNT_LINUX_MAP);
        if (mnt_optstr_get_flags(vfs, &out.flags, linux_map) != 0) {
            return fail(entry.file + ":" + std::to_string(entry.line) +
                        ": cannot read flags from options " + quote_text(vfs));
        }
        out.explicit_suid = mnt_optstr_get_option(vfs, "suid", nullptr, nullptr) == 0;
        out.explicit_dev = mnt_optstr_get_option(vfs, "dev", nullptr, nullptr) == 0;
    }
    out.flags &= ~kActionFlags;
    if (fs != nullptr) out.data = fs;
    // The spec parser refuses paths in data; this is the last line of defence, because the
    // executor hands the kernel directories as /proc/self/fd/N and nothing else.
    if (out.data.find('/') != std::string::npos) {
        return fail(entry.file + ":" + std::to_string(entry.line) + ": mount data " +
                    quote_text(out.data) + " carries a path");
    }
    // The line check refuses raw control bytes, but libmount decodes "\012"-style escapes in
    // the options field; a newline there would forge lines in the plan output and the log.
    for (unsigned char c : out.data) {
        if (c < 0x20 || c == 0x7f) {
            return fail(entry.file + ":" + std::to_string(entry.line) + ": mount data " +
                        quote_text(out.data) + " contains a control character");
        }
    }
    TRY(check_no_quoted_separator(entry, out.data));
    return out;
}

size_t depth_of(std::string_view path) { return std::count(path.begin(), path.end(), '/'); }

std::string degraded_warning(const SpecEntry& entry) {
    return entry.file + ":" + std::to_string(entry.line) + ": " + entry_kind_name(entry.kind) +
           " on " + quote_text(entry.target) +
           " is temporary this boot: no persistent partition (degraded)";
}

Result<PlannedMount> plan_entry(const SpecEntry& entry, const PlanContext& ctx, MountPlan& plan) {
    PlannedMount m;
    m.line = entry.line;
    m.target = entry.target;
    SplitOptions opts = TRY(split_options(entry));
    m.flags = opts.flags;
    m.data = std::move(opts.data);

    switch (entry.kind) {
        case EntryKind::kTmpfs:
            m.action = MountAction::kTmpfs;
            m.source = "tmpfs";
            m.fstype = "tmpfs";
            // A fresh tmpfs holds nothing that needs setuid or device nodes; the spec can still
            // ask for them explicitly.
            if (!opts.explicit_suid) m.flags |= MS_NOSUID;
            if (!opts.explicit_dev) m.flags |= MS_NODEV;
            break;
        case EntryKind::kTempOverlay:
            m.action = MountAction::kOverlay;
            m.source = "overlay";
            m.fstype = "overlay";
            break;
        case EntryKind::kPersistBind:
        case EntryKind::kPersistOverlay:
            // Files on the persistent partition survive image updates and are not covered by
            // the image's integrity checks: never honour setuid bits or device nodes there.
            m.flags |= MS_NOSUID | MS_NODEV;
            m.source = entry.source;
            if (!ctx.persist_available) {
                // Both kinds become a temporary overlay: the image's content stays visible and
                // writable, exactly as on a first boot with an empty persistent partition (a
                // bind would be seeded from the image), and nothing survives the boot.
                m.action = MountAction::kOverlay;
                m.source = "overlay";
                m.fstype = "overlay";
                m.degraded = true;
                plan.degraded = true;
                plan.warnings.push_back(degraded_warning(entry));
                break;
            }
            m.persist_dir = persist_dir_for(entry, ctx.slot);
            if (entry.kind == EntryKind::kPersistBind) {
                m.action = MountAction::kBind;
                m.fstype = "none";
                m.seed_from_image = true;
            } else {
                m.action = MountAction::kOverlay;
                m.fstype = "overlay";
                m.upper_persistent = true;
                m.work_dir = ".work/" + m.persist_dir;
            }
            break;
        case EntryKind::kDevice:
            m.action = MountAction::kDevice;
            m.source = entry.source;
            m.fstype = entry.fstype;
            m.nofail = entry.nofail;
            break;
    }
    return m;
}

}  // namespace

std::string persist_dir_for(const SpecEntry& entry, std::string_view slot) {
    std::string_view path = entry.persist_path;
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    std::string out = entry.scope == PersistScope::kSlot ? "slots/" + std::string(slot) + "/"
                                                         : std::string("shared/");
    out.append(path);
    return out;
}

Result<MountPlan> plan_mounts(const MountSpec& spec, const PlanContext& ctx) {
    MountPlan plan;
    plan.mounts.reserve(spec.entries.size());
    bool needs_slot =
        ctx.persist_available &&
        std::any_of(spec.entries.begin(), spec.entries.end(), [](const auto& e) {
            return (e.kind == EntryKind::kPersistBind || e.kind == EntryKind::kPersistOverlay) &&
                   e.scope == PersistScope::kSlot;
        });
    // The slot name becomes a directory name on the persistent partition.
    if (needs_slot && !valid_slot_name(ctx.slot)) {
        return fail("plan-mounts: invalid slot name " + quote_text(ctx.slot));
    }
    std::unordered_set<std::string_view> targets;
    targets.reserve(spec.entries.size());
    for (const SpecEntry& entry : spec.entries) {
        // The parser already refuses these; a spec built by other code gets the same checks.
        if (refused_area(entry.target) != "" || entry.target.empty() ||
            entry.target.front() != '/') {
            return fail(entry.file + ":" + std::to_string(entry.line) + ": mount point " +
                        quote_text(entry.target) + " is not allowed");
        }
        if (!targets.insert(entry.target).second) {
            return fail(entry.file + ":" + std::to_string(entry.line) + ": duplicate mount point " +
                        quote_text(entry.target));
        }
        plan.mounts.push_back(TRY(plan_entry(entry, ctx, plan)));
    }
    // Parents before children: a parent has fewer components than anything below it, so a
    // stable sort by depth is enough, and entries of equal depth keep the spec's order.
    std::stable_sort(plan.mounts.begin(), plan.mounts.end(),
                     [](const PlannedMount& a, const PlannedMount& b) {
                         return depth_of(a.target) < depth_of(b.target);
                     });
    return plan;
}

std::string PlannedMount::describe() const {
    std::string out;
    std::vector<std::string> notes;
    switch (action) {
        case MountAction::kTmpfs:
            out = "tmpfs on " + target;
            if (!data.empty()) notes.push_back(data);
            break;
        case MountAction::kOverlay:
            out = "overlay on " + target;
            notes.push_back(upper_persistent ? "upper persistent " + persist_dir : "upper tmpfs");
            if (!data.empty()) notes.push_back(data);
            break;
        case MountAction::kBind:
            out = "bind persistent " + persist_dir + " on " + target;
            if (seed_from_image) notes.push_back("seeded from image on first use");
            break;
        case MountAction::kDevice:
            out = fstype + " " + source + " on " + target;
            if (!data.empty()) notes.push_back(data);
            if (nofail) notes.push_back("nofail");
            break;
    }
    if (flags & MS_RDONLY) notes.push_back("read-only");
    if (degraded) notes.push_back("degraded: temporary, no persistent partition");
    if (!notes.empty()) {
        out += " (";
        for (size_t i = 0; i < notes.size(); ++i) out += (i ? ", " : "") + notes[i];
        out += ")";
    }
    return out;
}

std::string format_plan(const MountPlan& plan) {
    std::string out;
    if (plan.mounts.empty()) out = "(no mounts)\n";
    for (size_t i = 0; i < plan.mounts.size(); ++i) {
        out += std::to_string(i + 1) + ". " + plan.mounts[i].describe() + "\n";
    }
    for (const std::string& w : plan.warnings) out += "warning: " + w + "\n";
    return out;
}

std::vector<long> enclosing_mounts(const std::vector<PlannedMount>& mounts) {
    std::vector<long> out(mounts.size(), -1);
    std::unordered_map<std::string_view, long> last;  // target -> latest index so far
    for (size_t i = 0; i < mounts.size(); ++i) {
        std::string_view path = mounts[i].target;
        // The target itself, then each parent up to "/": the highest index among them is the
        // nearest earlier mount that contains this one.
        for (;;) {
            if (auto it = last.find(path); it != last.end() && it->second > out[i])
                out[i] = it->second;
            if (path == "/" || path.empty()) break;
            size_t slash = path.rfind('/');
            path = slash == 0 ? std::string_view("/") : path.substr(0, slash);
        }
        last[mounts[i].target] = static_cast<long>(i);
    }
    return out;
}

}  // namespace imageinit::core
