// The real operations of a factory reset (boot/reset_persist.h's ResetOps) over os/: files on
// the state partition below its root fd, the LUKS2 header and mke2fs on the persistent one.
#pragma once

#include "boot/reset_persist.h"
#include "boot/seams.h"

namespace imageinit::boot {

class RealResetOps final : public ResetOps {
  public:
    // STATE_ROOT_FD: the state partition's root (an O_PATH fd will do); it must outlive this.
    // LOAD_MODULE (optional): loads a kernel module by name, best effort (dm-crypt for LUKS2).
    explicit RealResetOps(int state_root_fd,
                          std::function<void(const std::string&)> load_module = nullptr)
        : root_(state_root_fd), load_module_(std::move(load_module)) {}
    Result<std::optional<std::string>> read_request() override;
    Result<core::PersistFound> identify(const std::string& device) override;
    Result<void> write_request(const std::string& content) override;
    Result<void> clear_request() override;
    Result<std::string> new_key() override;
    Result<void> write_key(const std::string& key) override;
    Result<void> luks_format(const std::string& device, const core::ResetTarget& t,
                             const std::string& key) override;
    Result<void> make_fs(const std::string& device, const core::ResetTarget& t,
                         const std::string& key) override;

  private:
    void load_luks_modules();
    int root_;
    std::function<void(const std::string&)> load_module_;
};

// The factory for BootSequence::set_reset_ops: RealResetOps over the state root's fd, loading
// modules through DEVICES.
ResetOpsFactory real_reset_ops(Devices& devices);

// The mapping a reset opens for the time of mkfs (never the boot's imageinit-persist).
inline constexpr const char* kResetMapping = "imageinit-persist-reset";

}  // namespace imageinit::boot
