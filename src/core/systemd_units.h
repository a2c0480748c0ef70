// systemd mount units for the mounts imageinit made before the hand-over, written to
// /run/systemd/system so that systemd in the booted OS knows their dependencies (as OSTree and
// Kairos do): a persistent overlay or bind is unmounted before the persistent partition, after
// whatever uses it (journald's flush service relinquishes /var first); the state partition,
// which carries the running image, is never stopped: systemd-shutdown remounts it read-only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/mount_plan.h"

namespace imageinit::core {

struct UnitFile {
    std::string name;  // "var.mount"
    std::string content;
};

// systemd-escape --path --suffix=mount: "/run/imageinit/persist" -> "run-imageinit-persist.mount";
// bytes outside [A-Za-z0-9:_.] (and a leading '.') become \xNN; "/" alone is "-.mount".
std::string mount_unit_name(std::string_view path);

struct UnitContext {
    std::string state_device;    // what is mounted on state_mount
    std::string state_mount;     // /run/imageinit/state
    std::string persist_device;  // empty: no persistent partition (degraded boot)
    std::string persist_mount;   // /run/imageinit/persist
};

// One unit per partition and per planned mount that lives on the persistent partition; the
// temporary ones (tmpfs, overlays with a RAM upper) need no order and are left to systemd.
std::vector<UnitFile> systemd_mount_units(const MountPlan& plan, const UnitContext& ctx);

}  // namespace imageinit::core
