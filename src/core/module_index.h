// The kernel module index of an initramfs: the text files depmod(8) writes (modules.dep,
// modules.alias, modules.softdep, modules.builtin) parsed into plain values, and the order in
// which to insert the modules for a name or a modalias, resolved the way modprobe(8) does.
// Pure: text in, values out. The build resolves what to carry with kmod; the boot only needs
// these lookups and finit_module(2) (the same split as AOSP's libmodprobe).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::core {

struct ModuleInfo {
    std::string path;               // as modules.dep names it, relative to /lib/modules/KVER
    std::vector<std::string> deps;  // normalized names of every module it needs
};

struct SoftDeps {
    std::vector<std::string> pre;   // names or aliases, inserted before (failures ignored)
    std::vector<std::string> post;  // inserted after
};

struct AliasRule {
    std::string pattern;  // normalized fnmatch(3) pattern ("pci:v00001AF4d*sv*...")
    std::string prefix;   // the pattern's literal start: a cheap filter before fnmatch
    std::string module;   // normalized module name
};

struct ModuleIndex {
    std::map<std::string, ModuleInfo> modules;  // by normalized name
    std::vector<AliasRule> aliases;             // in file order
    std::map<std::string, SoftDeps> softdeps;
    std::set<std::string> builtin;  // built into the kernel: nothing to insert
};

// Module names compare with '-' and '_' the same ("usb-storage" is "usb_storage").
std::string normalize_module_name(std::string_view name);
// Aliases too, except inside a [...] class, where '-' is a range (kmod's alias_normalize).
std::string normalize_alias(std::string_view alias);
// "kernel/fs/ext4/ext4.ko.xz" -> "ext4".
std::string module_name_from_path(std::string_view path);

// Each parser adds to `index`; `file` names the file in errors ("modules.dep:3: ...").
Result<void> parse_modules_dep(std::string_view text, const std::string& file, ModuleIndex& index);
Result<void> parse_modules_alias(std::string_view text, const std::string& file,
                                 ModuleIndex& index);
Result<void> parse_modules_softdep(std::string_view text, const std::string& file,
                                   ModuleIndex& index);
void parse_modules_builtin(std::string_view text, ModuleIndex& index);

struct ModuleLookup {
    std::vector<std::string> modules;  // names to insert, no duplicates
    bool builtin = false;              // the name is built into the kernel
};

// A module name first, then every alias that matches (as modprobe loads all of them), minus the
// modules in `blacklist` (modprobe.blacklist=, which applies to alias lookups only).
ModuleLookup lookup_module(const ModuleIndex& index, std::string_view name_or_alias,
                           const std::set<std::string>& blacklist = {});

struct LoadStep {
    std::string name;
    std::string path;
    bool optional = false;  // reached through a soft dependency: a failure is not fatal
};

// Insert order for one module: its pre soft dependencies, its dependencies (each after its
// own), the module, its post soft dependencies. Modules in `skip` (already loaded) are left
// out; cycles end at the first repeat.
std::vector<LoadStep> load_order(const ModuleIndex& index, const std::string& name,
                                 const std::set<std::string>& skip = {});

// The names in /proc/modules (the first word of each line): the modules already loaded.
std::set<std::string> parse_loaded_modules(std::string_view proc_modules);

struct ListedModule {
    int line = 0;      // 1-based, for "file:line: ..." errors
    std::string name;  // a module name or alias
};

// A module list (/etc/imageinit/modules): one name per line, blank lines and '#' comments
// skipped, surrounding blanks ignored.
std::vector<ListedModule> parse_module_list(std::string_view text);

struct ModuleCmdline {
    std::map<std::string, std::string> options;  // module -> "param=value param2=value"
    std::set<std::string> blacklist;             // modprobe.blacklist=a,b
};

// What modprobe takes from the kernel command line: "MODULE.PARAM[=VALUE]" words and
// modprobe.blacklist. Words of the kernel's own parameters (no module part) are ignored.
ModuleCmdline parse_module_cmdline(std::string_view cmdline);

}  // namespace imageinit::core
