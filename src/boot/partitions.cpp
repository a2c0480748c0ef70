// The boot sequence's first steps: the state partition (wait-state, mount-state), the persistent
// partition (find-persist locates it, open-persist unlocks and mounts it; else a degraded boot),
// and the rule for labels that match several devices (contract §2).
#include <sys/mount.h>

#include <algorithm>

#include "base/log.h"
#include "boot/boot_sequence.h"

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
    for (const auto& dev : found)
        disks.push_back(p_.devices.whole_disk_of(dev).value_or(std::string()));
    std::vector<std::string> on_disk;
    for (size_t i = 0; i < found.size(); ++i)
        if (!state_disk_.empty() && disks[i] == state_disk_) on_disk.push_back(found[i]);
    if (on_disk.size() != 1)
        return fail(ENOTUNIQ,
                    "'" + spec + "' matches " + join(found, ", ") + " and " +
                        (on_disk.empty() ? "none" : "more than one") + " is on the state disk" +
                        (state_disk_.empty() ? "" : " " + state_disk_) + ": refusing to guess");
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
            auto r = p_.devices.find_devices(cfg_.state_spec);
            if (r) found = *r;
            return !found.empty();
        };
        TRY(p_.devices.wait_until(ready, deadline_, "state partition '" + cfg_.state_spec + "'"));
        if (found.size() > 1)
            return fail(ENOTUNIQ, "state partition '" + cfg_.state_spec + "' matches " +
                                      join(found, ", ") +
                                      ": refusing to guess (name it with imageinit.state=)");
        device = found.front();
        return ok();
    }));
    return steps_.run<void>("mount-state", "", [&]() -> Result<void> {
        state_disk_ = p_.devices.whole_disk_of(device).value_or(std::string());
        std::string fstype = TRY(p_.devices.probe_fstype(device));
        p_.devices.load_module("fs-" + fstype);
        base_undo_.push_back(TRY(p_.mounts.mount_path(device, paths::kStateMount, fstype,
                                                      MS_NOSUID | MS_NODEV | MS_NOEXEC, "")));
        state_root_ = TRY(p_.files.open_dir(paths::kStateMount));
        state_device_ = device;
        log::info("state partition " + device + " (" + fstype + ") on " + paths::kStateMount);
        return ok();
    });
}

// Contract §2: without a usable persistent partition the boot goes on degraded (persistent paths
// on tmpfs), unless imageinit.persist.required makes that an error.
Result<void> BootSequence::degrade(const std::string& why) {
    if (cfg_.persist_required) return fail(ENODEV, why + " and imageinit.persist.required is set");
    report_.degraded = true;
    std::string warning =
        "DEGRADED: " + why + "; persistent paths are temporary this boot, changes will be lost";
    log::warning(warning);
    report_.warnings.push_back(warning);
    return ok();
}

Result<std::optional<PersistLocation>> BootSequence::locate_persist() {
    std::optional<PersistLocation> location;
    TRY(steps_.run<void>("find-persist", "", [&]() -> Result<void> {
        if (!cfg_.persist_spec)
            return degrade("persistent partition disabled (imageinit.persist=none)");
        const std::string& spec = *cfg_.persist_spec;
        std::vector<std::string> found;
        auto ready = [&] {
            auto r = p_.devices.find_devices(spec);
            if (r) found = *r;
            return !found.empty();
        };
        if (!ready()) {
            auto grace = std::min(deadline_, steps_.now() + kPersistGrace);
            (void)p_.devices.wait_until(ready, grace, "persistent partition '" + spec + "'");
        }
        std::optional<std::string> located;
        if (!found.empty()) {
            auto picked = pick_one(spec, found);
            if (!picked) return degrade(picked.error().message);
            located = *picked;
        }
        // Contract §14: a factory reset happens here, before anything unlocks or mounts the
        // partition; an interrupted one finds it by PARTUUID even when its label is gone.
        if (!factory_reset(located))
            return degrade("the persistent partition is not used after a failed factory reset");
        if (!located) return degrade("persistent partition '" + spec + "' not found");
        Result<std::string> device = *located;
        auto fstype = p_.devices.probe_fstype(*device);
        if (!fstype)
            return degrade("persistent partition " + *device + ": " + fstype.error().message);
        location = PersistLocation{*device, *fstype};
        return ok();
    }));
    return location;
}

Result<std::optional<OpenedPersist>> BootSequence::open_persist(const PersistLocation& location) {
    std::optional<OpenedPersist> opened;
    TRY(steps_.run<void>("open-persist", "", [&]() -> Result<void> {
        opened = TRY(open_persist_now(location, nullptr));
        return ok();
    }));
    return opened;
}

Result<std::optional<OpenedPersist>> BootSequence::open_persist_now(const PersistLocation& location,
                                                                    const TpmUnlockOptions* tpm) {
    std::optional<OpenedPersist> opened;
    TRY([&]() -> Result<void> {
        OpenedPersist out;
        std::string device = location.device;
        std::string fstype = location.fstype;
        if (fstype == "crypto_LUKS") {
            // Contract §5: unlocked or degraded, never a shell. The undo removes the mapping.
            auto unlocked = p_.integrity.open_luks(device, "imageinit-persist",
                                                   state_root_ ? &*state_root_ : nullptr, tpm);
            // No key sealed to this slot's image: the attempt fails (docs/integrity.md, "TPM2").
            if (!unlocked && unlocked.error().code == EKEYREJECTED)
                return Unexpected(std::move(unlocked).error());
            if (!unlocked)
                return degrade("persistent partition " + device +
                               " stays locked: " + unlocked.error().message);
            log::info("persistent partition " + device + " unlocked as " + unlocked->device + " (" +
                      unlocked->note + ")");
            out.undo.push_back(std::move(unlocked->undo));
            device = unlocked->device;
            auto inner = p_.devices.probe_fstype(device);
            if (!inner) return degrade(device + ": " + inner.error().message);
            fstype = *inner;
        }
        p_.devices.load_module("fs-" + fstype);
        // nodev,nosuid: whatever lands on the writable partition must not become a device node
        // or a set-uid binary in the booted system.
        auto guard =
            p_.mounts.mount_path(device, paths::kPersistMount, fstype, MS_NOSUID | MS_NODEV, "");
        if (!guard) return degrade("mounting " + device + ": " + guard.error().message);
        out.undo.push_back(std::move(*guard));
        auto dir = p_.files.open_dir(paths::kPersistMount);
        if (!dir) return degrade(dir.error().message);
        out.root = std::move(*dir);
        out.device = device;
        log::info("persistent partition " + device + " (" + fstype + ") on " +
                  paths::kPersistMount);
        opened = std::move(out);
        return ok();
    }());
    return opened;
}

}  // namespace imageinit::boot
