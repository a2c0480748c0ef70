// The mount units imageinit hands to systemd (see systemd_units.h, docs/systemd.md).
#include "core/systemd_units.h"

#include <cstdio>

namespace imageinit::core {
namespace {

constexpr const char* kHeader =
    "# Written by imageinit before the hand-over: this mount was made in the initramfs\n"
    "# (docs/systemd.md). The unit gives systemd its dependencies for the shutdown.\n";

// Unit file values expand specifiers: a literal '%' is "%%".
std::string unit_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '%') out += '%';
        out += c;
    }
    return out;
}

bool has_control_char(std::string_view v) {
    for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

bool on_persist(const PlannedMount& m) {
    if (m.degraded) return false;
    return m.action == MountAction::kBind ||
           (m.action == MountAction::kOverlay && m.upper_persistent);
}

}  // namespace

std::string mount_unit_name(std::string_view path) {
    // Trim slashes at both ends and collapse runs of them, as systemd does for paths.
    std::string p;
    for (size_t i = 0; i < path.size(); ++i) {
        if (path[i] == '/' && (p.empty() || p.back() == '/')) continue;
        p += path[i];
    }
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) return "-.mount";
    std::string out;
    for (size_t i = 0; i < p.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == ':' || c == '_' || (c == '.' && i > 0);
        if (c == '/') {
            out += '-';
        } else if (plain) {
            out += static_cast<char>(c);
        } else {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out + ".mount";
}

std::vector<UnitFile> systemd_mount_units(const MountPlan& plan, const UnitContext& ctx) {
    std::vector<UnitFile> units;
    if (!ctx.state_device.empty() && !has_control_char(ctx.state_device)) {
        units.push_back({mount_unit_name(ctx.state_mount),
                         std::string(kHeader) +
                             "# It carries the running slot image (a loop device's backing file): "
                             "it cannot be\n"
                             "# unmounted while the system runs, so the shutdown does not try "
                             "(no Conflicts=umount.target);\n"
                             "# systemd-shutdown remounts it read-only at the very end.\n"
                             "[Unit]\nDescription=imageinit state partition\n"
                             "DefaultDependencies=no\n\n[Mount]\nWhat=" +
                             unit_value(ctx.state_device) + "\nWhere=" +
                             unit_value(ctx.state_mount) + "\nOptions=nosuid,nodev,noexec\n"});
    }
    if (ctx.persist_device.empty() || has_control_char(ctx.persist_device)) return units;
    const std::string persist_unit = mount_unit_name(ctx.persist_mount);
    units.push_back({persist_unit,
                     std::string(kHeader) +
                         "# Unmounted at shutdown after every mount that lives on it.\n"
                         "[Unit]\nDescription=imageinit persistent partition\n"
                         "DefaultDependencies=no\nConflicts=umount.target\n"
                         "Before=umount.target\n\n[Mount]\nWhat=" +
                         unit_value(ctx.persist_device) +
                         "\nWhere=" + unit_value(ctx.persist_mount) + "\nOptions=nosuid,nodev\n"});
    for (const auto& m : plan.mounts) {
        if (!on_persist(m) || has_control_char(m.target) || has_control_char(m.persist_dir))
            continue;
        bool bind = m.action == MountAction::kBind;
        std::string what = bind ? ctx.persist_mount + "/" + m.persist_dir : "overlay";
        units.push_back({mount_unit_name(m.target),
                         std::string(kHeader) + "[Unit]\nDescription=imageinit persistent " +
                             (bind ? "bind" : "overlay") + " on " + unit_value(m.target) +
                             "\nRequires=" + persist_unit + "\nAfter=" + persist_unit +
                             "\n\n[Mount]\nWhat=" + unit_value(what) +
                             "\nWhere=" + unit_value(m.target) +
                             (bind ? "\nType=none\nOptions=bind\n" : "\nType=overlay\n")});
    }
    return units;
}

}  // namespace imageinit::core
