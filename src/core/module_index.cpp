// Parsing depmod's text indexes and resolving load order (see module_index.h).
#include "core/module_index.h"

#include <fnmatch.h>

#include <algorithm>

#include "core/cmdline.h"

namespace imageinit::core {
namespace {

// Calls fn(line_number, words) for every line that is not blank or a '#' comment.
template <typename Fn>
Result<void> for_each_line(std::string_view text, Fn fn) {
    size_t pos = 0;
    int line_no = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        std::vector<std::string_view> words;
        size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
            size_t start = i;
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
            if (i > start) words.push_back(line.substr(start, i - start));
        }
        if (words.empty() || words[0].front() == '#') continue;
        TRY(fn(line_no, words));
    }
    return ok();
}

Unexpected line_error(const std::string& file, int line_no, const std::string& what) {
    return fail(file + ":" + std::to_string(line_no) + ": " + what);
}

std::string literal_prefix(std::string_view pattern) {
    size_t n = pattern.find_first_of("*?[\\");
    return std::string(pattern.substr(0, n));
}

void add_unique(std::vector<std::string>& list, const std::string& name) {
    if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
}

struct OrderWalk {
    const ModuleIndex& index;
    const std::set<std::string>& skip;
    std::set<std::string> visited;
    std::vector<LoadStep> out;

    void soft(const std::vector<std::string>& names) {
        for (const auto& n : names) {
            for (const auto& m : lookup_module(index, n).modules) visit(m, true);
        }
    }

    void visit(const std::string& name, bool optional) {
        if (!visited.insert(name).second) return;
        auto it = index.modules.find(name);
        if (it == index.modules.end()) return;  // built in, or not carried: nothing to insert
        auto sd = index.softdeps.find(name);
        if (sd != index.softdeps.end()) soft(sd->second.pre);
        // modules.dep lists every module needed, directly or not; visiting each first puts
        // every module after its own dependencies whatever order the list has.
        for (const auto& dep : it->second.deps) visit(dep, optional);
        if (!skip.contains(name)) out.push_back(LoadStep{name, it->second.path, optional});
        if (sd != index.softdeps.end()) soft(sd->second.post);
    }
};

}  // namespace

std::string normalize_module_name(std::string_view name) {
    std::string out(name);
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
}

std::string normalize_alias(std::string_view alias) {
    std::string out(alias);
    bool in_class = false;
    for (char& c : out) {
        if (c == '[')
            in_class = true;
        else if (c == ']')
            in_class = false;
        else if (c == '-' && !in_class)
            c = '_';
    }
    return out;
}

std::string module_name_from_path(std::string_view path) {
    size_t slash = path.rfind('/');
    std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
    size_t ko = base.find(".ko");
    return normalize_module_name(base.substr(0, ko));
}

Result<void> parse_modules_dep(std::string_view text, const std::string& file, ModuleIndex& index) {
    return for_each_line(text, [&](int n, const std::vector<std::string_view>& w) -> Result<void> {
        std::string_view first = w[0];
        if (first.back() != ':') return line_error(file, n, "no ':' after the module path");
        first.remove_suffix(1);
        if (first.find(".ko") == std::string_view::npos) {
            return line_error(file, n, "'" + std::string(first) + "' is not a module file");
        }
        ModuleInfo info{std::string(first), {}};
        for (size_t i = 1; i < w.size(); ++i) add_unique(info.deps, module_name_from_path(w[i]));
        index.modules[module_name_from_path(first)] = std::move(info);
        return ok();
    });
}

Result<void> parse_modules_alias(std::string_view text, const std::string& file,
                                 ModuleIndex& index) {
    return for_each_line(text, [&](int n, const std::vector<std::string_view>& w) -> Result<void> {
        if (w[0] != "alias" || w.size() != 3) {
            return line_error(file, n, "expected 'alias PATTERN MODULE'");
        }
        std::string pattern = normalize_alias(w[1]);
        std::string prefix = literal_prefix(pattern);
        index.aliases.push_back(
            AliasRule{std::move(pattern), std::move(prefix), normalize_module_name(w[2])});
        return ok();
    });
}

Result<void> parse_modules_softdep(std::string_view text, const std::string& file,
                                   ModuleIndex& index) {
    return for_each_line(text, [&](int n, const std::vector<std::string_view>& w) -> Result<void> {
        if (w[0] != "softdep" || w.size() < 3) {
            return line_error(file, n, "expected 'softdep MODULE pre: ... post: ...'");
        }
        SoftDeps& sd = index.softdeps[normalize_module_name(w[1])];
        std::vector<std::string>* into = nullptr;
        for (size_t i = 2; i < w.size(); ++i) {
            if (w[i] == "pre:")
                into = &sd.pre;
            else if (w[i] == "post:")
                into = &sd.post;
            else if (!into)
                continue;  // as kmod does: Debian 6.1's cifs declares MODULE_SOFTDEP("gcm") with no
                           // "pre:", so depmod writes "softdep cifs gcm"; kmod ignores such names
            else
                into->push_back(normalize_alias(w[i]));
        }
        return ok();
    });
}

void parse_modules_builtin(std::string_view text, ModuleIndex& index) {
    (void)for_each_line(text, [&](int, const std::vector<std::string_view>& w) -> Result<void> {
        index.builtin.insert(module_name_from_path(w[0]));
        return ok();
    });
}

ModuleLookup lookup_module(const ModuleIndex& index, std::string_view name_or_alias,
                           const std::set<std::string>& blacklist) {
    ModuleLookup found;
    std::string name = normalize_module_name(name_or_alias);
    if (index.modules.contains(name)) {
        found.modules.push_back(name);
        return found;
    }
    if (index.builtin.contains(name)) {
        found.builtin = true;
        return found;
    }
    std::string alias = normalize_alias(name_or_alias);
    for (const auto& rule : index.aliases) {
        if (!alias.starts_with(rule.prefix)) continue;
        if (fnmatch(rule.pattern.c_str(), alias.c_str(), 0) != 0) continue;
        if (blacklist.contains(rule.module)) continue;
        // depmod writes aliases only for the modules it indexed; one naming a module the index
        // lacks (a hand-edited file) matches nothing rather than failing later without a word.
        if (!index.modules.contains(rule.module) && !index.builtin.contains(rule.module)) continue;
        if (index.builtin.contains(rule.module)) {
            found.builtin = true;
            continue;
        }
        add_unique(found.modules, rule.module);
    }
    return found;
}

std::set<std::string> parse_loaded_modules(std::string_view proc_modules) {
    std::set<std::string> loaded;
    (void)for_each_line(proc_modules, [&](int, const std::vector<std::string_view>& w) {
        loaded.insert(std::string(w[0]));
        return ok();
    });
    return loaded;
}

std::vector<ListedModule> parse_module_list(std::string_view text) {
    std::vector<ListedModule> out;
    (void)for_each_line(text, [&](int n, const std::vector<std::string_view>& w) -> Result<void> {
        out.push_back(ListedModule{n, std::string(w[0])});
        return ok();
    });
    return out;
}

std::vector<LoadStep> load_order(const ModuleIndex& index, const std::string& name,
                                 const std::set<std::string>& skip) {
    OrderWalk walk{index, skip, {}, {}};
    walk.visit(normalize_module_name(name), false);
    return std::move(walk.out);
}

ModuleCmdline parse_module_cmdline(std::string_view cmdline) {
    ModuleCmdline out;
    for (const auto& word : split_cmdline(cmdline)) {
        size_t eq = word.find('=');
        size_t dot = word.find('.');
        if (dot == std::string::npos || dot == 0 || (eq != std::string::npos && dot > eq)) continue;
        std::string module = normalize_module_name(word.substr(0, dot));
        std::string param = word.substr(dot + 1);
        if (param.empty() || param[0] == '=') continue;
        if (module == "modprobe") {
            if (!param.starts_with("blacklist=")) continue;
            std::string_view list = std::string_view(param).substr(10);
            size_t pos = 0;
            while (pos <= list.size()) {
                size_t comma = std::min(list.find(',', pos), list.size());
                if (comma > pos) {
                    out.blacklist.insert(normalize_module_name(list.substr(pos, comma - pos)));
                }
                pos = comma + 1;
            }
            continue;
        }
        // split_cmdline took the quotes off a value with spaces; the kernel's parser needs them.
        if (eq != std::string::npos && param.find(' ') != std::string::npos) {
            size_t at = eq - dot - 1;
            param = param.substr(0, at + 1) + '"' + param.substr(at + 1) + '"';
        }
        std::string& opts = out.options[module];
        if (!opts.empty()) opts += ' ';
        opts += param;
    }
    return out;
}

}  // namespace imageinit::core
