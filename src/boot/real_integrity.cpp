// RealIntegrity (see real_platform.h): os::verity and os::luks with
// the initramfs paths of the machine key and the undo guards the boot sequence keeps.
#include "boot/luks_header.h"
#include "boot/real_platform.h"
#include "core/persist_reset.h"
#include "os/isolated.h"
#include "os/loop.h"
#include "os/luks.h"
#include "os/verity.h"

namespace imageinit::boot {
namespace {

// Put there by `mkinitrd --keyfile FILE [--keyslot N]` (0400 in a 0600 initramfs).
constexpr const char* kKeyFile = "/etc/imageinit/keyfile";
constexpr const char* kKeySlotFile = "/etc/imageinit/keyslot";

Undo remove_undo(const std::string& name) {
    return Undo([name] { (void)os::dm_remove_deferred(name); });
}

// Runs the unlock in a child process (os::run_isolated). A crash anywhere in libcryptsetup or its
// KDFs (an argon2id slot has crashed in QEMU guests) then costs a degraded boot, never PID 1 (a
// kernel panic), and the key material never lives in PID 1's memory. The header is loaded and
// checked in the child too: its parser is libcryptsetup's. The dm device the child creates stays.
Result<os::LuksUnlocked> unlock_in_child(const std::string& device, const std::string& name,
                                         const os::LuksUnlockOptions& options) {
    std::string how =
        TRY(os::run_isolated("unlocking '" + device + "'", [&]() -> Result<std::string> {
            os::CryptDevice cd = TRY(load_luks2_checked(device));
            return TRY(os::luks_unlock(cd, device, name, options)).how;
        }));
    return os::LuksUnlocked{"/dev/mapper/" + name, how};
}

}  // namespace

Result<AttachedImage> RealIntegrity::open_verity(const std::string& data_device,
                                                 const std::string& hash_file,
                                                 const std::string& roothash,
                                                 const std::string& name) {
    devices_.load_module("dm-verity");
    // Our own read-only loop device for the tree (autoclear: it goes with the dm device).
    devices_.load_module("loop");
    os::LoopDevice hash = TRY(os::attach_loop(hash_file, true));
    std::string path = TRY(os::verity_activate(data_device, hash.path, roothash, name));
    // Our fd goes with `hash` here: from now on the dm device alone holds the loop device.
    return AttachedImage{path, remove_undo(name), "hash tree " + hash_file};
}

Result<void> RealIntegrity::arm_verity_restart(const std::string& name) {
    return os::verity_restart_on_corruption(name);
}

Result<AttachedImage> RealIntegrity::open_luks(const std::string& device, const std::string& name,
                                               const Dir* state_root, const TpmUnlockOptions* tpm) {
    // dm-crypt plus the kernel crypto API sockets libcryptsetup may use (QEMU-NOTES.md).
    for (const char* m : {"dm-crypt", "xts", "algif_skcipher", "algif_hash"})
        devices_.load_module(m);
    os::LuksUnlockOptions o;
    o.key_file = kKeyFile;
    o.key_slot_file = kKeySlotFile;
    if (state_root) {  // the per-device key, after the initramfs's (docs/integrity.md)
        o.state_root_fd = state_root->fd.get();
        o.state_key =
            std::string(core::kResetRequestDir) + "/" + std::string(core::kPersistKeyName);
    }
    o.label = "persistent partition";
    if (tpm) o.first_stage = tpm_key_stage(*tpm);  // runs in the child, like the rest
    os::LuksUnlocked u = TRY(unlock_in_child(device, name, o));
    return AttachedImage{u.path, remove_undo(name), u.how};
}

}  // namespace imageinit::boot
