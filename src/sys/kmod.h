// Kernel modules through libkmod: load by name or by modalias, with dependencies and softdeps
// resolved from the modules.dep that mkinitrd put into the initramfs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

struct kmod_ctx;

namespace imageinit::sys {

class ModuleLoader {
public:
    static Result<ModuleLoader> open();  // uses /lib/modules/$(uname -r)
    ModuleLoader(ModuleLoader&&) noexcept;
    ModuleLoader& operator=(ModuleLoader&&) noexcept;
    ~ModuleLoader();

    // Loads a module or alias ("ext4", "fs-erofs", "pci:v00001AF4..."); already loaded or
    // built in is success. Returns how many modules were inserted.
    Result<int> load(const std::string& name_or_alias);
    // Loads every name in the list file (one per line, '#' comments); errors are collected.
    std::vector<std::string> load_list_file(const std::string& path);

private:
    ModuleLoader() = default;
    struct kmod_ctx* ctx_ = nullptr;
};

}  // namespace imageinit::sys
