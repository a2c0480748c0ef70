// The boot sequence's first steps: the state partition (wait-state, mount-state), the
// persistent partition (find-persist, or a degraded boot), and the rule for labels that match
// several devices (contract §2). Split from boot_sequence.cpp, which sequences the slots.
#include <sys/mount.h>

#include <algorithm>

#include "boot/boot_sequence.h"
#include "sys/log.h"

namespace imageinit::boot {
namespace {

// After the state partition is found, a persistent partition on another disk gets this much
// longer to appear (event driven; only a missing partition ever waits for it).
constexpr auto kPersistGrace = std::chrono::seconds(2);

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

}  // namespace

Result<std::string> BootSequence::pick_one(const std::string& spec,
                                           const std::vector<std::string>& found) {
    if (found.size() == 1) return found.front();
    // Several devices carry the label (a USB stick with LABEL=PERSIST): the one on the state
    // partition's disk wins; with none there we refuse to guess (contract §2).
    std::vector<std::string> disks;
    for (const auto& dev : found) disks.push_back(p_.whole_disk_of(dev).value_or(std::string()));
    std::vector<std::string> on_disk;
    for (size_t i = 0; i < found.size(); ++i)
        if (!state_disk_.empty() && disks[i] == state_disk_) on_disk.push_back(found[i]);
    if (on_disk.size() != 1)
        return fail(ENOTUNIQ, "'" + spec + "' matches " + join(found, ", ") + " and " +
                                  (on_disk.empty() ? "none" : "more than one") +
                                  " is on the state disk" +
                                  (state_disk_.empty() ? "" : " " + state_disk_) +
                                  ": refusing to guess");
    std::vector<std::string> ignored;
    for (const auto& dev : found)
        if (dev != on_disk.front()) ignored.push_back(dev);
    std::string warning = "'" + spec + "' also matches " + join(ignored, ", ") + "; using " +
                          on_disk.front() + " on the state disk";
    log::warning(warning);
    report_.warnings.push_back(warning);
    return on_disk.front();
}

Result<void> BootSequence::find_state() {
    std::string device;
    TRY(steps_.run<void>("wait-state", "", [&]() -> Result<void> {
        std::vector<std::string> found;
        auto ready = [&] {
            auto r = p_.find_devices(cfg_.state_spec);
            if (r) found = *r;
            return !found.empty();
        };
        TRY(p_.wait_until(ready, deadline_, "state partition '" + cfg_.state_spec + "'"));
        if (found.size() > 1)
            return fail(ENOTUNIQ, "state partition '" + cfg_.state_spec + "' matches " +
                                      join(found, ", ") +
                                      ": refusing to guess (name it with imageinit.state=)");
        device = found.front();
        return ok();
    }));
    return steps_.run<void>("mount-state", "", [&]() -> Result<void> {
        state_disk_ = p_.whole_disk_of(device).value_or(std::string());
        std::string fstype = TRY(p_.probe_fstype(device));
        p_.load_module("fs-" + fstype);
        base_undo_.push_back(TRY(p_.mount_path(device, paths::kStateMount, fstype,
                                               MS_NOSUID | MS_NODEV | MS_NOEXEC, "")));
        state_root_ = TRY(p_.open_dir(paths::kStateMount));
        state_device_ = device;
        log::info("state partition " + device + " (" + fstype + ") on " + paths::kStateMount);
        return ok();
    });
}

Result<void> BootSequence::find_persist() {
    auto degrade = [&](const std::string& why) -> Result<void> {
        if (cfg_.persist_required)
            return fail(ENODEV, why + " and imageinit.persist.required is set");
        report_.degraded = true;
        std::string warning = "DEGRADED: " + why +
                              "; persistent paths are temporary this boot, changes will be lost";
        log::warning(warning);
        report_.warnings.push_back(warning);
        return ok();
    };
    return steps_.run<void>("find-persist", "", [&]() -> Result<void> {
        if (!cfg_.persist_spec) return degrade("persistent partition disabled (imageinit.persist=none)");
        const std::string& spec = *cfg_.persist_spec;
        std::vector<std::string> found;
        auto ready = [&] {
            auto r = p_.find_devices(spec);
            if (r) found = *r;
            return !found.empty();
        };
        if (!ready()) {
            auto grace = std::min(deadline_, steps_.now() + kPersistGrace);
            (void)p_.wait_until(ready, grace, "persistent partition '" + spec + "'");
        }
        std::optional<std::string> located;
        Result<std::string> device = fail(ENODEV, "persistent partition '" + spec + "' not found");
        if (!found.empty()) device = pick_one(spec, found);
        if (device) located = *device;
        // Contract §14: a factory reset happens here, before anything unlocks or mounts it. An
        // interrupted one finds its partition by PARTUUID even when the label is gone.
        if (!reset_persist_step(located))
            return degrade("the persistent partition is not used after a failed factory reset");
        if (located) device = *located;
        if (!device) return degrade(device.error().message);
        auto fstype = p_.probe_fstype(*device);
        if (!fstype) return degrade("persistent partition " + *device + ": " + fstype.error().message);
        if (*fstype == "crypto_LUKS") {
            // Contract §5: unlocked or degraded, never a shell. The undo removes the mapping.
            auto opened = p_.open_luks(*device, "imageinit-persist", &*state_root_);
            if (!opened) return degrade("persistent partition " + *device + " stays locked: " +
                                        opened.error().message);
            log::info("persistent partition " + *device + " unlocked as " + opened->device +
                      " (" + opened->note + ")");
            base_undo_.push_back(std::move(opened->undo));
            device = opened->device;
            fstype = p_.probe_fstype(*device);
            if (!fstype) return degrade(*device + ": " + fstype.error().message);
        }
        p_.load_module("fs-" + *fstype);
        // nodev,nosuid: whatever lands on the writable partition must not become a device node
        // or a set-uid binary in the booted system.
        auto guard = p_.mount_path(*device, paths::kPersistMount, *fstype, MS_NOSUID | MS_NODEV, "");
        if (!guard) return degrade("mounting " + *device + ": " + guard.error().message);
        base_undo_.push_back(std::move(*guard));
        auto dir = p_.open_dir(paths::kPersistMount);
        if (!dir) return degrade(dir.error().message);
        persist_root_ = std::move(*dir);
        persist_device_ = *device;
        log::info("persistent partition " + *device + " (" + *fstype + ") on " +
                  paths::kPersistMount);
        return ok();
    });
}

}  // namespace imageinit::boot
