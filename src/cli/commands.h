// The booted-OS and build-time commands (contract §8): status, mark-good, install, rollback,
// plan, check. Each returns a process exit code; errors are one line on stderr.
#pragma once

#include <string>
#include <vector>

namespace imageinit::cli {

int run_command(const std::vector<std::string>& args);

// Shared by the commands.
struct CommonOptions {
    std::string state_dir = "/run/imageinit/state";
    std::string persist_dir = "/run/imageinit/persist";
    std::string run_dir = "/run/imageinit";
    std::string slot;  // running slot override (tests); default: /run/imageinit/slot
};

int cmd_status(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_mark_good(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_rollback(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_install(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_plan(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_check(const std::vector<std::string>& args, const CommonOptions& o);
// In a dracut initramfs: prepare /sysroot, dracut switches root (cli/dracut.cpp).
int cmd_dracut_mount(const std::vector<std::string>& args, const CommonOptions& o);

}  // namespace imageinit::cli
