// RealPlatform's dm-verity and LUKS2 methods (see platform.h): sys::verity and sys::luks with
// the initramfs paths of the machine key and the undo guards the boot sequence keeps.
#include "boot/real_platform.h"
#include "sys/loop.h"
#include "sys/luks.h"
#include "sys/verity.h"

namespace imageinit::boot {
namespace {

// Put there by `mkinitrd --keyfile FILE [--keyslot N]` (0400 in a 0600 initramfs).
constexpr const char* kKeyFile = "/etc/imageinit/keyfile";
constexpr const char* kKeySlotFile = "/etc/imageinit/keyslot";

Undo remove_undo(const std::string& name) {
    return Undo([name] { (void)sys::dm_remove_deferred(name); });
}

}  // namespace

Result<AttachedImage> RealPlatform::open_verity(const std::string& data_device,
                                                const std::string& hash_file,
                                                const std::string& roothash,
                                                const std::string& name) {
    load_module("dm-verity");
    // Our own read-only loop device for the tree (autoclear: it goes with the dm device).
    sys::LoopDevice hash = TRY(sys::attach_loop(hash_file, true));
    std::string path = TRY(sys::verity_activate(data_device, hash.path, roothash, name));
    // Our fd goes with `hash` here: from now on the dm device alone holds the loop device.
    return AttachedImage{path, remove_undo(name), "hash tree " + hash_file};
}

Result<void> RealPlatform::arm_verity_restart(const std::string& name) {
    return sys::verity_restart_on_corruption(name);
}

Result<AttachedImage> RealPlatform::open_luks(const std::string& device, const std::string& name) {
    // dm-crypt plus the kernel crypto API sockets libcryptsetup may use (QEMU-NOTES.md).
    for (const char* m : {"dm-crypt", "xts", "algif_skcipher", "algif_hash"}) load_module(m);
    sys::LuksUnlockOptions o;
    o.key_file = kKeyFile;
    o.key_slot_file = kKeySlotFile;
    o.label = "persistent partition";
    sys::LuksUnlocked u = TRY(sys::luks_unlock(device, name, o));
    return AttachedImage{u.path, remove_undo(name), u.how};
}

}  // namespace imageinit::boot
