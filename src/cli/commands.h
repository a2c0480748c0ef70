// The booted-OS and build-time commands (contract §8): status, mark-good, install, rollback,
// plan, check. Each returns a process exit code; errors are one line on stderr.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "core/kernel_cmdline.h"
#include "core/slot_source.h"

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
// `upgrade SOURCE`: compose with imageinit-compose, then install_image (cli/upgrade.cpp).
int cmd_upgrade(const std::vector<std::string>& args, const CommonOptions& o);
// imageinit-compose: $IMAGEINIT_COMPOSE, else beside this binary, else the installed one, else
// PATH (cli/upgrade.cpp); upgrade and bootstrap run it as a child.
std::string find_compose();

// The one install code path (cli/install.cpp), for `install` and `upgrade`.
struct InstallRequest {
    std::string image;
    int tries = 3;
    bool verity = false;
    core::SlotSource source;      // recorded in slots/TARGET.img.source
    core::KernelCmdline cmdline;  // the running system's (partition slots, pinned root hashes)
};
// /proc/cmdline of the running system, parsed once by the command that needs it.
core::KernelCmdline read_kernel_cmdline();
int install_image(const InstallRequest& req, const CommonOptions& o);
Result<int> parse_tries(const std::string& command, const std::string& value);
// `reset [--cancel]`: a factory reset of the persistent partition at the next boot (cli/reset.cpp).
int cmd_reset(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_plan(const std::vector<std::string>& args, const CommonOptions& o);
int cmd_check(const std::vector<std::string>& args, const CommonOptions& o);
// In a dracut initramfs: prepare /sysroot, dracut switches root (cli/dracut.cpp).
int cmd_dracut_mount(const std::vector<std::string>& args, const CommonOptions& o);

}  // namespace imageinit::cli
