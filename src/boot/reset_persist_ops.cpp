// RealResetOps (see reset_persist_ops.h): one os/ call per operation.
#include "boot/reset_persist_ops.h"

#include <fcntl.h>

#include "base/unique_fd.h"
#include "os/atomic_file.h"
#include "os/blkid.h"
#include "os/persist_format.h"
#include "os/resolve.h"
#include "os/safe_open.h"

namespace imageinit::boot {
namespace {

// STATE/imageinit as a readable directory fd (fsync of a directory needs one, O_PATH will not
// do); created when missing, never through a symlink.
Result<UniqueFd> state_dir(int root) {
    UniqueFd dir = TRY(os::mkdir_p_beneath(root, std::string(core::kResetRequestDir), 0755));
    int fd = ::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail_errno("openat", std::string(core::kResetRequestDir));
    return UniqueFd(fd);
}

}  // namespace

Result<std::optional<std::string>> RealResetOps::read_request() {
    const std::string rel =
        std::string(core::kResetRequestDir) + "/" + std::string(core::kResetRequestName);
    auto text =
        os::read_checked(root_, rel, os::Scope::kPartition, core::kResetRequestMaxBytes + 1);
    if (!text) {
        if (text.error().code == ENOENT) return std::optional<std::string>();
        return Unexpected(std::move(text).error());
    }
    return std::optional<std::string>(std::move(*text));
}

Result<core::PersistFound> RealResetOps::identify(const std::string& device) {
    os::DeviceIdentity id = TRY(os::probe_identity(device));
    return core::PersistFound{device, id.partuuid.empty() ? "" : "PARTUUID=" + id.partuuid,
                              id.fstype, id.label, id.uuid};
}

Result<void> RealResetOps::write_request(const std::string& content) {
    UniqueFd dir = TRY(state_dir(root_));
    return os::write_file_atomic(dir.get(), std::string(core::kResetRequestName), content);
}

Result<void> RealResetOps::clear_request() {
    UniqueFd dir = TRY(state_dir(root_));
    return os::remove_file_durable(dir.get(), std::string(core::kResetRequestName));
}

Result<std::string> RealResetOps::new_key() { return os::random_bytes(core::kPersistKeyBytes); }

Result<void> RealResetOps::write_key(const std::string& key) {
    UniqueFd dir = TRY(state_dir(root_));
    return os::write_file_atomic(dir.get(), std::string(core::kPersistKeyName), key,
                                 os::real_file_ops(), 0400);
}

void RealResetOps::load_luks_modules() {
    // dm-crypt plus the kernel crypto API sockets libcryptsetup may use (QEMU-NOTES.md).
    if (load_module_)
        for (const char* m : {"dm-crypt", "xts", "algif_skcipher", "algif_hash"}) load_module_(m);
}

Result<void> RealResetOps::luks_format(const std::string& device, const core::ResetTarget& t,
                                       const std::string& key) {
    load_luks_modules();
    return os::luks_format(device, t.label, t.uuid, key);
}

Result<void> RealResetOps::make_fs(const std::string& device, const core::ResetTarget& t,
                                   const std::string& key) {
    if (t.kind == core::PersistKind::kExt4) return os::mkfs_ext4(device, t.label, t.uuid);
    load_luks_modules();
    // A mapping left by a reset cut short in this same boot cannot exist (PID 1 starts
    // clean), so the name is free; it is closed again whatever mkfs says.
    std::string mapped = TRY(os::luks_open_with_key(device, kResetMapping, key));
    auto made = os::mkfs_ext4(mapped, "", "");
    auto closed = os::luks_close(kResetMapping);
    TRY(std::move(made));
    return closed;
}

ResetOpsFactory real_reset_ops(Devices& devices) {
    return [&devices](const Dir& state_root) -> std::unique_ptr<ResetOps> {
        return std::make_unique<RealResetOps>(
            state_root.fd.get(), [&devices](const std::string& m) { devices.load_module(m); });
    };
}

}  // namespace imageinit::boot
