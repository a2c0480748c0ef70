// Fuzz body: depmod's text indexes and the modprobe-style resolution over them. The input is
// sections separated by "\n%%\n": modules.dep, modules.alias, modules.softdep, modules.builtin,
// then lookups (one per line), then a kernel command line. Whatever the text, parsing ends
// with a value or a file:line error, lookups and load orders terminate, a load order never
// names a module twice or one the index does not carry, and never one already loaded.
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/module_index.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

std::vector<std::string_view> sections(std::string_view data) {
    std::vector<std::string_view> out;
    for (;;) {
        size_t sep = data.find("\n%%\n");
        out.push_back(data.substr(0, sep));
        if (sep == std::string_view::npos) break;
        data.remove_prefix(sep + 4);
    }
    out.resize(6);
    return out;
}

void check_error(const Result<void>& r, std::string_view file) {
    if (r) return;
    FUZZ_CHECK(r.error().message.starts_with(std::string(file) + ":"), r.error().message);
}

}  // namespace

void fuzz_module_index(const uint8_t* data, size_t size) {
    auto s = sections(std::string_view(reinterpret_cast<const char*>(data), size));
    core::ModuleIndex index;
    check_error(core::parse_modules_dep(s[0], "dep", index), "dep");
    check_error(core::parse_modules_alias(s[1], "alias", index), "alias");
    check_error(core::parse_modules_softdep(s[2], "softdep", index), "softdep");
    core::parse_modules_builtin(s[3], index);
    core::ModuleCmdline cmdline = core::parse_module_cmdline(s[5]);
    for (const auto& [name, opts] : cmdline.options) {
        FUZZ_CHECK(!name.empty() && name.find('-') == std::string::npos, name);
        FUZZ_CHECK(!opts.empty(), name);
    }
    for (const auto& name : cmdline.blacklist) FUZZ_CHECK(!name.empty(), "empty blacklist entry");

    std::string_view queries = s[4];
    std::set<std::string> loaded;
    while (!queries.empty()) {
        size_t nl = queries.find('\n');
        std::string query(queries.substr(0, nl));
        queries.remove_prefix(nl == std::string_view::npos ? queries.size() : nl + 1);
        core::ModuleLookup found = core::lookup_module(index, query, cmdline.blacklist);
        std::set<std::string> unique(found.modules.begin(), found.modules.end());
        FUZZ_CHECK(unique.size() == found.modules.size(), query);
        for (const auto& m : found.modules) {
            FUZZ_CHECK(index.modules.contains(m), m);
            std::set<std::string> seen;
            for (const auto& step : core::load_order(index, m, loaded)) {
                FUZZ_CHECK(seen.insert(step.name).second, "twice in one order: " + step.name);
                FUZZ_CHECK(!loaded.contains(step.name), "already loaded: " + step.name);
                FUZZ_CHECK(index.modules.contains(step.name), step.name);
                FUZZ_CHECK(index.modules.at(step.name).path == step.path, step.path);
            }
            loaded.insert(seen.begin(), seen.end());
        }
    }
}

}  // namespace imageinit::fuzz
