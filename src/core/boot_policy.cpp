// The rules of core/boot_policy.h.
#include "core/boot_policy.h"

namespace imageinit::core {

Result<void> check_landing(const std::string& path, const std::string& root_at,
                           const std::string& landed) {
    std::string expected = path == "/" ? root_at : (root_at == "/" ? "" : root_at) + path;
    if (landed == expected) return ok();
    std::string inside = landed.compare(0, root_at.size(), root_at) == 0
                             ? landed.substr(root_at == "/" ? 0 : root_at.size())
                             : landed;
    return fail(ELOOP, "'" + path + "' resolves to '" + inside +
                           "' through a symlink: refusing to mount there");
}

SeedStaging seed_staging(const std::string& rel, long pid, unsigned counter) {
    SeedStaging s;
    s.staging = ".seed/" + std::to_string(pid) + "-" + std::to_string(counter);
    auto slash = rel.rfind('/');
    s.parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    s.leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
    return s;
}

}  // namespace imageinit::core
