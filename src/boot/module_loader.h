// Kernel modules without a daemon or libkmod: the initramfs's depmod indexes (parsed by
// core/module_index), the load order and options decided here, one os::insert_module per module.
// Options and modprobe.blacklist come from the kernel command line, as with modprobe(8).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "core/module_index.h"

namespace imageinit::boot {

class ModuleLoader {
  public:
    // Reads /lib/modules/$(uname -r). Missing indexes (a kernel with everything built in) are
    // not an error: lookups then find nothing. OPTIONS: the module words of the command line,
    // parsed by the caller (core::KernelCmdline::modules).
    static Result<ModuleLoader> open(const core::ModuleCmdline& options);
    static Result<ModuleLoader> open(const std::string& module_dir,
                                     const core::ModuleCmdline& options);

    // Loads a module or alias ("ext4", "fs-erofs", "pci:v00001AF4..."); already loaded or
    // built in is success. Returns how many modules were inserted.
    Result<int> load(const std::string& name_or_alias);
    // Loads every name in the list file (one per line, '#' comments); errors are collected.
    std::vector<std::string> load_list_file(const std::string& path);

  private:
    ModuleLoader() = default;
    Result<void> insert(const core::LoadStep& step);

    std::string dir_;
    core::ModuleIndex index_;
    core::ModuleCmdline cmdline_;
    std::set<std::string> loaded_;  // /proc/modules at open, plus what we inserted
};

}  // namespace imageinit::boot
