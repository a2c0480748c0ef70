// boot::Platform: everything the boot sequence asks of the kernel, as one small interface.
// RealPlatform (real_platform.cpp) implements it over sys::; the unit tests use a fake that
// records every call, so the exact mount sequence of a boot can be asserted without root.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "boot/reset_persist.h"
#include "core/result.h"
#include "sys/process.h"
#include "sys/unique_fd.h"

namespace imageinit::boot {

// Undoes one piece of kernel state (a mount, a loop device) when dropped, unless committed.
// Guards are kept in a stack per slot attempt, so a late failure unwinds in reverse order.
class Undo {
public:
    Undo() = default;
    explicit Undo(std::function<void()> fn) : fn_(std::move(fn)) {}
    Undo(Undo&& o) noexcept : fn_(std::exchange(o.fn_, nullptr)) {}
    Undo& operator=(Undo&& o) noexcept {
        if (this != &o) {
            run();
            fn_ = std::exchange(o.fn_, nullptr);
        }
        return *this;
    }
    Undo(const Undo&) = delete;
    Undo& operator=(const Undo&) = delete;
    ~Undo() { run(); }
    void commit() { fn_ = nullptr; }
    void run() {
        if (fn_) std::exchange(fn_, nullptr)();
    }

private:
    std::function<void()> fn_;
};

// Runs the guards last first: a vector destroys its elements first to last, which would detach
// a loop device under its mounted filesystem and unmount parents before their children.
inline void unwind(std::vector<Undo>& undo) {
    while (!undo.empty()) undo.pop_back();
}

// An open directory: an O_PATH fd (real platform) plus its path for messages and the log.
struct Dir {
    sys::UniqueFd fd;
    std::string path;
};

struct AttachedImage {
    std::string device;  // /dev/loopN or the partition itself
    Undo undo;           // detaches the loop device (no-op for partitions)
    std::string note;    // how it was opened, for the log ("key file, key slot 1 (pbkdf2), 20 ms")
};

using Clock = std::chrono::steady_clock;

class Platform {
public:
    virtual ~Platform() = default;

    // --- devices
    // Every device matching SPEC right now (LABEL=, UUID=, PARTLABEL=, PARTUUID=, /dev/...).
    virtual Result<std::vector<std::string>> find_devices(const std::string& spec) = 0;
    virtual Result<std::string> whole_disk_of(const std::string& device) = 0;
    // Waits (uevents, no sleeping) until ready() holds or the deadline passes.
    virtual Result<void> wait_until(const std::function<bool()>& ready, Clock::time_point deadline,
                                    const std::string& what) = 0;
    virtual Result<std::string> probe_fstype(const std::string& device_or_file) = 0;
    virtual void load_module(const std::string& name) = 0;  // best effort ("fs-erofs", "loop")

    // --- files
    // A regular file at PATH, reached without following any symlink (a fifo, a device node or a
    // symlink where a slot image or a sidecar belongs is not one).
    virtual bool file_exists(const std::string& path) = 0;
    virtual Result<AttachedImage> attach_loop(const std::string& file) = 0;
    virtual Result<Dir> open_dir(const std::string& path) = 0;
    // Opens PATH inside ROOT with RESOLVE_IN_ROOT. want_dir: must be a directory.
    virtual Result<Dir> open_in_root(const Dir& root, const std::string& path, bool want_dir) = 0;
    // A directory to mount on: opened inside ROOT and refused unless it is exactly ROOT/PATH.
    // RESOLVE_IN_ROOT keeps a symlink from leaving the root; this also keeps one (say, planted on
    // the persistent partition under an earlier overlay) from moving a mount elsewhere inside it.
    virtual Result<Dir> open_mount_point(const Dir& root, const std::string& path) {
        return open_in_root(root, path, true);
    }
    // Regular file with an execute bit, resolved inside ROOT.
    virtual Result<void> check_executable(const Dir& root, const std::string& path) = 0;
    // Reads a regular file resolved inside the image ROOT (RESOLVE_IN_ROOT); never blocks: a fifo
    // or device node there is an error naming it. Error code ENOENT when it does not exist.
    virtual Result<std::string> read_in_root(const Dir& root, const std::string& path,
                                             size_t max_bytes) = 0;
    // Reads a regular file REL on a writable partition (state, persistent) below ROOT: a symlink
    // anywhere on the way, a fifo or a device node is an error naming it, never followed or
    // waited on. Error code ENOENT when it does not exist.
    virtual Result<std::string> read_on_partition(const Dir& root, const std::string& rel,
                                                  size_t max_bytes) = 0;
    // mkdir -p below BASE, refusing symlinks anywhere on the way.
    virtual Result<Dir> make_dirs(const Dir& base, const std::string& rel) = 0;
    // A persistent directory: created on first use, then (when SEED is given) filled with a copy
    // of the image's directory, staged under .seed/ and renamed into place so a power cut never
    // leaves a half-seeded directory behind. Never follows symlinks on the partition.
    virtual Result<Dir> make_persist_dir(const Dir& persist_root, const std::string& rel,
                                         const Dir* seed) = 0;
    virtual Result<std::string> read_file(const std::string& path, size_t max_bytes) = 0;
    virtual Result<void> write_file_atomic(const Dir& dir, const std::string& name,
                                           const std::string& content) = 0;
    virtual Result<void> write_file(const std::string& path, const std::string& content) = 0;

    // --- mounts (each returns the guard that undoes it)
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

    // --- helper programs (initramfs hooks, contract §9). Not pure: a platform that does not
    // override them (a unit-test fake) simply has no hooks.
    // Names of the regular files with an execute bit in DIR; empty when DIR does not exist.
    virtual Result<std::vector<std::string>> list_executables(const std::string& dir) {
        (void)dir;
        return std::vector<std::string>{};
    }
    // sys::run_process: ARGV with exactly ENV, killed (with its process group) at LIMIT; with
    // CAPTURE_BYTES > 0 the tail of its output comes back instead of going to our stderr.
    virtual Result<sys::ProcessResult> run_program(const std::vector<std::string>& argv,
                                                   const std::vector<std::string>& env,
                                                   std::chrono::milliseconds limit,
                                                   size_t capture_bytes = 0) {
        (void)env, (void)limit, (void)capture_bytes;
        return fail(ENOSYS, "cannot run '" + argv.at(0) + "' on this platform");
    }

    // --- dm-verity and LUKS2 (contract §5, §6; docs/integrity.md). Defaults: a platform without
    // device-mapper (a unit-test fake) opens neither, and says so.
    // DATA_DEVICE through dm-verity as /dev/mapper/NAME, with the hash tree in HASH_FILE (a file
    // on the state partition) and ROOTHASH (hex). Corruption reads as EIO until
    // arm_verity_restart(NAME); the undo removes the device (deferred while it is in use).
    virtual Result<AttachedImage> open_verity(const std::string& data_device,
                                              const std::string& hash_file,
                                              const std::string& roothash,
                                              const std::string& name) {
        (void)hash_file, (void)roothash, (void)name;
        return fail(ENOTSUP, "cannot open dm-verity on '" + data_device + "' on this platform");
    }
    // From now on a corrupt block of NAME restarts the machine: a counted failed boot.
    virtual Result<void> arm_verity_restart(const std::string& name) {
        return fail(ENOTSUP, "cannot change dm-verity '" + name + "' on this platform");
    }
    // Unlocks the LUKS2 DEVICE as /dev/mapper/NAME: header policy, the initramfs key file, the
    // per-device key STATE_ROOT/imageinit/persist.key (when STATE_ROOT is given), then a
    // passphrase on the console with bounded retries. EPERM when no key fits.
    virtual Result<AttachedImage> open_luks(const std::string& device, const std::string& name,
                                            const Dir* state_root) {
        (void)name, (void)state_root;
        return fail(ENOTSUP, "cannot unlock LUKS2 '" + device + "' on this platform");
    }

    // --- factory reset (contract §14, boot/reset_persist.h): the operations on the state
    // partition below STATE_ROOT and on the persistent partition. nullptr (a unit-test fake):
    // this platform cannot reset, the step does nothing.
    virtual std::unique_ptr<ResetOps> reset_ops(const Dir& state_root) {
        (void)state_root;
        return nullptr;
    }

    // --- slot-owned kernels (contract §7). Defaults: a platform without kexec (a unit-test
    // fake) knows no running kernel, reads heads as whole files and cannot load a kernel.
    // The running kernel: uname's release and version.
    virtual std::pair<std::string, std::string> running_kernel() { return {}; }
    // The first MAX_BYTES of a file resolved inside ROOT (ENOENT when it does not exist).
    virtual Result<std::string> read_head_in_root(const Dir& root, const std::string& path,
                                                  size_t max_bytes) {
        return read_in_root(root, path, max_bytes);
    }
    // kexec_file_load of KERNEL and INITRD (both resolved inside ROOT) with CMDLINE.
    virtual Result<void> kexec_load(const Dir& root, const std::string& kernel,
                                    const std::string& initrd, const std::string& cmdline) {
        (void)root, (void)initrd, (void)cmdline;
        return fail(ENOSYS, "cannot kexec '" + kernel + "' on this platform");
    }
};

}  // namespace imageinit::boot
