// The real seams (boot/seams.h) over the syscall layer (os::), and RealPlatform, which owns one
// of each for a boot. Module loading and device waiting are optional: PID 1 has both, a host
// command has neither (and mostly needs only a RealRootFs).
#pragma once

#include "boot/module_loader.h"
#include "boot/seams.h"
#include "os/devwait.h"

namespace imageinit::boot {

class RealDevices : public Devices {
  public:
    RealDevices(ModuleLoader* modules, os::DeviceWaiter* waiter)
        : modules_(modules), waiter_(waiter) {}
    Result<std::vector<std::string>> find_devices(const std::string& spec) override;
    Result<std::string> whole_disk_of(const std::string& device) override;
    Result<void> wait_until(const std::function<bool()>& ready, Clock::time_point deadline,
                            const std::string& what) override;
    Result<std::string> probe_fstype(const std::string& device_or_file) override;
    void load_module(const std::string& name) override;

  private:
    ModuleLoader* modules_;
    os::DeviceWaiter* waiter_;
};

// real_root_fs.cpp
class RealRootFs : public RootFs {
  public:
    bool file_exists(const std::string& path) override;
    Result<Dir> open_dir(const std::string& path) override;
    Result<Dir> open_in_root(const Dir& root, const std::string& path, bool want_dir) override;
    Result<Dir> open_mount_point(const Dir& root, const std::string& path) override;
    Result<void> check_executable(const Dir& root, const std::string& path) override;
    Result<std::string> read_in_root(const Dir& root, const std::string& path,
                                     size_t max_bytes) override;
    Result<std::string> read_head_in_root(const Dir& root, const std::string& path,
                                          size_t max_bytes) override;
    Result<std::string> read_on_partition(const Dir& root, const std::string& rel,
                                          size_t max_bytes) override;
    Result<Dir> make_dirs(const Dir& base, const std::string& rel) override;
    Result<Dir> make_persist_dir(const Dir& persist_root, const std::string& rel,
                                 const Dir* seed) override;
    Result<std::string> read_file(const std::string& path, size_t max_bytes) override;
    Result<void> write_file_atomic(const Dir& dir, const std::string& name,
                                   const std::string& content) override;
    Result<void> write_file(const std::string& path, const std::string& content) override;
};

class RealMounts : public Mounts {
  public:
    explicit RealMounts(Devices& devices) : devices_(devices) {}  // for load_module
    Result<AttachedImage> attach_loop(const std::string& file) override;
    Result<Undo> mount_path(const std::string& source, const std::string& target,
                            const std::string& fstype, unsigned long flags,
                            const std::string& data) override;
    Result<Undo> mount_on(const std::string& source, const Dir& target, const std::string& fstype,
                          unsigned long flags, const std::string& data) override;
    Result<Undo> mount_overlay(const Dir& lower, const Dir& upper, const Dir& work,
                               const Dir& target, unsigned long flags,
                               const std::string& options) override;
    Result<Undo> bind(const Dir& source, const Dir& target, unsigned long flags) override;

  private:
    Devices& devices_;
};

// real_integrity.cpp
class RealIntegrity : public Integrity {
  public:
    explicit RealIntegrity(Devices& devices) : devices_(devices) {}  // for load_module
    Result<AttachedImage> open_verity(const std::string& data_device, const std::string& hash_file,
                                      const std::string& roothash,
                                      const std::string& name) override;
    Result<void> arm_verity_restart(const std::string& name) override;
    Result<AttachedImage> open_luks(const std::string& device, const std::string& name,
                                    const Dir* state_root, const TpmUnlockOptions* tpm) override;

  private:
    Devices& devices_;
};

// real_kexec.cpp
class RealKexec : public Kexec {
  public:
    std::pair<std::string, std::string> running_kernel() override;
    Result<void> kexec_load(const Dir& root, const std::string& kernel, const std::string& initrd,
                            const std::string& cmdline) override;
};

class RealProcesses : public Processes {
  public:
    Result<std::vector<std::string>> list_executables(const std::string& dir) override;
    Result<os::ProcessResult> run_program(const std::vector<std::string>& argv,
                                          const std::vector<std::string>& env,
                                          std::chrono::milliseconds limit,
                                          size_t capture_bytes = 0) override;
};

// One of each real seam. Not copyable: the seams refer to each other.
class RealPlatform {
  public:
    RealPlatform(ModuleLoader* modules, os::DeviceWaiter* waiter)
        : devices_(modules, waiter), mounts_(devices_), integrity_(devices_) {}
    RealPlatform(const RealPlatform&) = delete;
    RealPlatform& operator=(const RealPlatform&) = delete;

    Platform seams() { return Platform{devices_, files_, mounts_, integrity_, kexec_, processes_}; }
    RealDevices& devices() { return devices_; }
    RealRootFs& files() { return files_; }
    RealMounts& mounts() { return mounts_; }
    RealIntegrity& integrity() { return integrity_; }
    RealKexec& kexec() { return kexec_; }
    RealProcesses& processes() { return processes_; }

  private:
    RealDevices devices_;
    RealRootFs files_;
    RealMounts mounts_;
    RealIntegrity integrity_;
    RealKexec kexec_;
    RealProcesses processes_;
};

}  // namespace imageinit::boot
