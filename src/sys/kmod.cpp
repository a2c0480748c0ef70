// libkmod: one context for the boot, lookups by name or alias, inserts with dependencies,
// softdeps and install commands resolved as modprobe(8) would.
#include "sys/kmod.h"

#include <libkmod.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "sys/c_handle.h"
#include "sys/files.h"

namespace imageinit::sys {
namespace {

using ModuleList = CHandle<kmod_list, kmod_module_unref_list>;

// libkmod's print_action callback has no user data; PID 1 loads modules from one thread.
int g_inserted = 0;

void count_insert(struct kmod_module*, bool install, const char*) {
    if (!install) ++g_inserted;  // `install` means a modprobe.d install command ran instead
}

// Library code does not log (STYLE.md): failures come back as errors instead.
void quiet_log(void*, int, const char*, int, const char*, const char*, va_list) {}

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

}  // namespace

Result<ModuleLoader> ModuleLoader::open() {
    struct kmod_ctx* ctx = kmod_new(nullptr, nullptr);
    if (!ctx) {
        if (errno == 0) errno = ENOMEM;
        return fail_errno("kmod_new", "/lib/modules");
    }
    kmod_set_log_fn(ctx, quiet_log, nullptr);
    // Loads the binary indexes once instead of per lookup. Missing indexes (a kernel with
    // everything built in) are not fatal: lookups then simply find nothing.
    (void)kmod_load_resources(ctx);
    ModuleLoader loader;
    loader.ctx_ = ctx;
    return loader;
}

ModuleLoader::ModuleLoader(ModuleLoader&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}

ModuleLoader& ModuleLoader::operator=(ModuleLoader&& o) noexcept {
    if (this != &o) {
        if (ctx_) kmod_unref(ctx_);
        ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
}

ModuleLoader::~ModuleLoader() {
    if (ctx_) kmod_unref(ctx_);
}

Result<int> ModuleLoader::load(const std::string& name_or_alias) {
    struct kmod_list* raw = nullptr;
    int err = kmod_module_new_from_lookup(ctx_, name_or_alias.c_str(), &raw);
    ModuleList list(raw);
    if (err < 0) {
        errno = -err;
        return fail_errno("kmod lookup", name_or_alias);
    }
    if (!list) {
        // A device whose modalias no module claims is normal (a bridge, a built-in driver);
        // a module asked for by name that does not exist is not.
        if (name_or_alias.find(':') != std::string::npos) return 0;
        return fail(ENOENT, "module '" + name_or_alias + "' not found");
    }
    int inserted = 0;
    struct kmod_list* it;
    kmod_list_foreach(it, list.get()) {
        struct kmod_module* mod = kmod_module_get_module(it);
        g_inserted = 0;
        // Flags: already loaded or built in is success (no KMOD_PROBE_FAIL_ON_LOADED), and the
        // blacklist applies only to alias lookups, as with modprobe(8).
        err = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY,
                                              nullptr, nullptr, nullptr, count_insert);
        inserted += g_inserted;
        std::string name = kmod_module_get_name(mod);
        kmod_module_unref(mod);
        if (err > 0 || err == -EEXIST) continue;  // > 0: skipped as blacklisted
        if (err < 0) {
            errno = -err;
            std::string what = "insert module '" + name + "' for";
            return fail_errno(what, name_or_alias);
        }
    }
    return inserted;
}

std::vector<std::string> ModuleLoader::load_list_file(const std::string& path) {
    std::vector<std::string> errors;
    auto content = read_file(path, 1 << 20);
    if (!content) {
        errors.push_back(content.error().message);
        return errors;
    }
    size_t pos = 0;
    int line_no = 0;
    while (pos < content->size()) {
        size_t end = content->find('\n', pos);
        if (end == std::string::npos) end = content->size();
        std::string line = trim(content->substr(pos, end - pos));
        pos = end + 1;
        ++line_no;
        if (line.empty() || line[0] == '#') continue;
        auto r = load(line);
        if (!r) errors.push_back(path + ":" + std::to_string(line_no) + ": " + r.error().message);
    }
    return errors;
}

}  // namespace imageinit::sys
