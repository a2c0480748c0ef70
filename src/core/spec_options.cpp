// The options field of a mount spec line (see spec_options.h).
#include "core/spec_options.h"

#include <libmount/libmount.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string_view>

#include "core/path_rules.h"

namespace imageinit::core {
namespace {

constexpr std::string_view kOptionPrefix = "x-imageinit.";

struct FreeDeleter {
    void operator()(char* p) const { free(p); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> list) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

Result<OptionFacts> read_options(const std::string& options) {
    OptionFacts facts;
    std::string copy = options;
    char* cursor = copy.data();
    char *name = nullptr, *value = nullptr;
    size_t name_size = 0, value_size = 0;
    while (true) {
        int rc = mnt_optstr_next_option(&cursor, &name, &name_size, &value, &value_size);
        if (rc == 1) break;
        if (rc < 0) return fail("cannot parse options " + quote_text(options));
        std::string key(name, name_size);
        std::optional<std::string> val;
        if (value != nullptr) val.emplace(value, value_size);
        if (key.empty()) continue;

        if (key.starts_with(kOptionPrefix)) {
            std::string_view sub = std::string_view(key).substr(kOptionPrefix.size());
            std::optional<std::string>* slot = sub == "upper"   ? &facts.upper
                                               : sub == "scope" ? &facts.scope
                                                                : nullptr;
            if (slot == nullptr) return fail("unknown option " + quote_text(key));
            if (slot->has_value()) return fail("option " + quote_text(key) + " given twice");
            *slot = val.value_or("");
            continue;
        }
        if (key == "nofail") {
            facts.nofail = true;
            continue;
        }
        // The overlay's directories are imageinit's to choose: they are passed to the kernel as
        // file descriptors, never as paths.
        if (is_one_of(key, {"lowerdir", "upperdir", "workdir", "datadir"})) {
            return fail("option " + quote_text(key) +
                        " is not allowed: imageinit chooses the overlay's directories");
        }
        // These change an existing mount instead of making one, or make a recursive bind; a
        // mount(2) call that carries them would not do what the line seems to say.
        if (is_one_of(key, {"remount", "move", "rbind", "shared", "rshared", "private", "rprivate",
                            "slave", "rslave", "unbindable", "runbindable"})) {
            return fail("option " + quote_text(key) + " is not supported");
        }
        facts.bind |= key == "bind";
        facts.suid |= key == "suid";
        facts.dev |= key == "dev";
        if (!facts.kept.empty()) facts.kept += ',';
        facts.kept += key;
        if (val) facts.kept += "=" + *val;
    }
    return facts;
}

Result<void> check_no_path_in_data(const std::string& kept) {
    if (kept.find('/') == std::string::npos) return ok();  // the common case, kept cheap
    char *user = nullptr, *vfs = nullptr, *fs = nullptr;
    if (mnt_split_optstr(kept.c_str(), &user, &vfs, &fs, 0, 0) != 0) {
        return fail("cannot parse options " + quote_text(kept));
    }
    CString user_owner(user), vfs_owner(vfs), fs_owner(fs);
    if (fs == nullptr) return ok();
    char* cursor = fs;
    char *name = nullptr, *value = nullptr;
    size_t name_size = 0, value_size = 0;
    while (mnt_optstr_next_option(&cursor, &name, &name_size, &value, &value_size) == 0) {
        std::string_view key(name, name_size);
        std::string_view val = value != nullptr ? std::string_view(value, value_size) : "";
        if (key.find('/') != key.npos || val.find('/') != val.npos) {
            return fail("option " + quote_text(key) +
                        " carries a path: mount data never holds paths");
        }
    }
    return ok();
}

}  // namespace imageinit::core
