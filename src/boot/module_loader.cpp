// The depmod text indexes, the load order and the options of each module (see module_loader.h).
#include "boot/module_loader.h"

#include <cerrno>

#include "os/files.h"
#include "os/kernel_module.h"

namespace imageinit::boot {
namespace {

constexpr size_t kMaxIndex = 16u << 20;  // a full distribution modules.alias is ~1.5 MB

// An index file that does not exist is empty; one that cannot be read is an error.
Result<std::string> read_index(const std::string& path) {
    auto text = os::read_file(path, kMaxIndex);
    if (!text && text.error().code == ENOENT) return std::string();
    return text;
}

}  // namespace

Result<ModuleLoader> ModuleLoader::open(const core::ModuleCmdline& options) {
    return open("/lib/modules/" + TRY(os::kernel_release()), options);
}

Result<ModuleLoader> ModuleLoader::open(const std::string& module_dir,
                                        const core::ModuleCmdline& options) {
    ModuleLoader l;
    l.dir_ = module_dir;
    TRY(core::parse_modules_dep(TRY(read_index(module_dir + "/modules.dep")),
                                module_dir + "/modules.dep", l.index_));
    TRY(core::parse_modules_alias(TRY(read_index(module_dir + "/modules.alias")),
                                  module_dir + "/modules.alias", l.index_));
    TRY(core::parse_modules_softdep(TRY(read_index(module_dir + "/modules.softdep")),
                                    module_dir + "/modules.softdep", l.index_));
    core::parse_modules_builtin(TRY(read_index(module_dir + "/modules.builtin")), l.index_);
    l.cmdline_ = options;
    // Inserting a loaded module costs the kernel a full read and signature check before it
    // says EEXIST: skip what is already there.
    auto proc = os::read_file("/proc/modules", 1 << 20);
    if (proc) l.loaded_ = core::parse_loaded_modules(*proc);
    return l;
}

Result<void> ModuleLoader::insert(const core::LoadStep& step) {
    auto opt = cmdline_.options.find(step.name);
    TRY(os::insert_module(dir_ + "/" + step.path,
                          opt == cmdline_.options.end() ? std::string() : opt->second));
    loaded_.insert(step.name);
    return ok();
}

Result<int> ModuleLoader::load(const std::string& name_or_alias) {
    core::ModuleLookup found = core::lookup_module(index_, name_or_alias, cmdline_.blacklist);
    if (found.modules.empty()) {
        // A device whose modalias no module claims is normal (a bridge, a built-in driver);
        // a module asked for by name that does not exist is not.
        if (found.builtin || name_or_alias.find(':') != std::string::npos) return 0;
        return fail(ENOENT, "module '" + name_or_alias + "' not found in '" + dir_ + "'");
    }
    int inserted = 0;
    for (const auto& name : found.modules) {
        for (const auto& step : core::load_order(index_, name, loaded_)) {
            auto r = insert(step);
            if (r) {
                ++inserted;
            } else if (!step.optional) {
                return fail(r.error().code,
                            "load module '" + name_or_alias + "': " + r.error().message);
            }
        }
    }
    return inserted;
}

std::vector<std::string> ModuleLoader::load_list_file(const std::string& path) {
    std::vector<std::string> errors;
    auto content = os::read_file(path, 1 << 20);
    if (!content) {
        errors.push_back(content.error().message);
        return errors;
    }
    for (const auto& listed : core::parse_module_list(*content)) {
        auto r = load(listed.name);
        if (!r)
            errors.push_back(path + ":" + std::to_string(listed.line) + ": " + r.error().message);
    }
    return errors;
}

}  // namespace imageinit::boot
