// The narrow seams between the boot and the kernel, one interface per concern. Each has one real
// implementation over os:: (real_platform.h) and a small fake in tests/unit; policy (what is
// refused, what is retried) lives in the callers and in plain functions, not here.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "boot/platform.h"
#include "boot/tpm_unlock.h"
#include "os/process.h"

namespace imageinit::boot {

// Block devices: lookup by LABEL=/UUID=/PARTLABEL=/PARTUUID=//dev/..., waiting, probing.
class Devices {
  public:
    virtual ~Devices() = default;
    // Every device matching SPEC right now.
    virtual Result<std::vector<std::string>> find_devices(const std::string& spec) = 0;
    virtual Result<std::string> whole_disk_of(const std::string& device) = 0;
    // Waits (uevents, no sleeping) until ready() holds or the deadline passes.
    virtual Result<void> wait_until(const std::function<bool()>& ready, Clock::time_point deadline,
                                    const std::string& what) = 0;
    virtual Result<std::string> probe_fstype(const std::string& device_or_file) = 0;
    virtual void load_module(const std::string& name) = 0;  // best effort ("fs-erofs", "loop")
};

// Directory-relative file access: images (RESOLVE_IN_ROOT) and writable partitions (no symlink
// followed anywhere). Used by the boot, the CLI and the state store alike.
class RootFs {
  public:
    virtual ~RootFs() = default;
    // A regular file at PATH, reached without following any symlink (a fifo, a device node or a
    // symlink where a slot image or a sidecar belongs is not one).
    virtual bool file_exists(const std::string& path) = 0;
    virtual Result<Dir> open_dir(const std::string& path) = 0;
    // Opens PATH inside ROOT with RESOLVE_IN_ROOT. want_dir: must be a directory.
    virtual Result<Dir> open_in_root(const Dir& root, const std::string& path, bool want_dir) = 0;
    // A directory to mount on: opened inside ROOT and refused (core::check_landing) unless it is
    // exactly ROOT/PATH. RESOLVE_IN_ROOT keeps a symlink from leaving the root; this also keeps
    // one (say, planted on the persistent partition) from moving a mount elsewhere inside it.
    virtual Result<Dir> open_mount_point(const Dir& root, const std::string& path) = 0;
    // Regular file with an execute bit, resolved inside ROOT.
    virtual Result<void> check_executable(const Dir& root, const std::string& path) = 0;
    // Reads a regular file resolved inside the image ROOT; never blocks: a fifo or device node
    // there is an error naming it. Error code ENOENT when it does not exist.
    virtual Result<std::string> read_in_root(const Dir& root, const std::string& path,
                                             size_t max_bytes) = 0;
    // The first MAX_BYTES of a file resolved inside ROOT (ENOENT when it does not exist).
    virtual Result<std::string> read_head_in_root(const Dir& root, const std::string& path,
                                                  size_t max_bytes) = 0;
    // Reads a regular file REL on a writable partition below ROOT: a symlink anywhere on the
    // way, a fifo or a device node is an error naming it. ENOENT when it does not exist.
    virtual Result<std::string> read_on_partition(const Dir& root, const std::string& rel,
                                                  size_t max_bytes) = 0;
    // mkdir -p below BASE, refusing symlinks anywhere on the way.
    virtual Result<Dir> make_dirs(const Dir& base, const std::string& rel) = 0;
    // A persistent directory: created on first use, then (when SEED is given) filled with a copy
    // of the image's directory, staged (core::seed_staging) and renamed into place so a power cut
    // never leaves a half-seeded directory behind. Never follows symlinks on the partition.
    virtual Result<Dir> make_persist_dir(const Dir& persist_root, const std::string& rel,
                                         const Dir* seed) = 0;
    virtual Result<std::string> read_file(const std::string& path, size_t max_bytes) = 0;
    virtual Result<void> write_file_atomic(const Dir& dir, const std::string& name,
                                           const std::string& content) = 0;
    virtual Result<void> write_file(const std::string& path, const std::string& content) = 0;
};

// Mounts and loop devices; each returns the guard that undoes it.
class Mounts {
  public:
    virtual ~Mounts() = default;
    virtual Result<AttachedImage> attach_loop(const std::string& file) = 0;
    virtual Result<Undo> mount_path(const std::string& source, const std::string& target,
                                    const std::string& fstype, unsigned long flags,
                                    const std::string& data) = 0;
    virtual Result<Undo> mount_on(const std::string& source, const Dir& target,
                                  const std::string& fstype, unsigned long flags,
                                  const std::string& data) = 0;
    virtual Result<Undo> mount_overlay(const Dir& lower, const Dir& upper, const Dir& work,
                                       const Dir& target, unsigned long flags,
                                       const std::string& options) = 0;
    virtual Result<Undo> bind(const Dir& source, const Dir& target, unsigned long flags) = 0;
};

// dm-verity and LUKS2 (contract §5, §6; docs/integrity.md).
class Integrity {
  public:
    virtual ~Integrity() = default;
    // DATA_DEVICE through dm-verity as /dev/mapper/NAME, with the hash tree in HASH_FILE (a file
    // on the state partition) and ROOTHASH (hex). Corruption reads as EIO until
    // arm_verity_restart(NAME); the undo removes the device (deferred while it is in use).
    virtual Result<AttachedImage> open_verity(const std::string& data_device,
                                              const std::string& hash_file,
                                              const std::string& roothash,
                                              const std::string& name) = 0;
    // From now on a corrupt block of NAME restarts the machine: a counted failed boot.
    virtual Result<void> arm_verity_restart(const std::string& name) = 0;
    // Unlocks the LUKS2 DEVICE as /dev/mapper/NAME: header policy, the TPM2 stage when TPM is
    // given (boot/tpm_unlock.h: EKEYREJECTED when no key is sealed to that slot), the initramfs
    // key file, the per-device key STATE_ROOT/imageinit/persist.key (when STATE_ROOT is given),
    // then a passphrase on the console with bounded retries. EPERM when no key fits.
    virtual Result<AttachedImage> open_luks(const std::string& device, const std::string& name,
                                            const Dir* state_root, const TpmUnlockOptions* tpm) = 0;
};

// Slot-owned kernels (contract §7).
class Kexec {
  public:
    virtual ~Kexec() = default;
    // The running kernel: uname's release and version.
    virtual std::pair<std::string, std::string> running_kernel() = 0;
    // kexec_file_load of KERNEL and INITRD (both resolved inside ROOT) with CMDLINE.
    virtual Result<void> kexec_load(const Dir& root, const std::string& kernel,
                                    const std::string& initrd, const std::string& cmdline) = 0;
};

// Helper programs: initramfs hooks (contract §9) and health checks.
class Processes {
  public:
    virtual ~Processes() = default;
    // Names of the regular files with an execute bit in DIR; empty when DIR does not exist.
    virtual Result<std::vector<std::string>> list_executables(const std::string& dir) = 0;
    // os::run_process: ARGV with exactly ENV, killed (with its process group) at LIMIT; with
    // CAPTURE_BYTES > 0 the tail of its output comes back instead of going to our stderr.
    virtual Result<os::ProcessResult> run_program(const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& env,
                                                  std::chrono::milliseconds limit,
                                                  size_t capture_bytes = 0) = 0;
};

}  // namespace imageinit::boot
