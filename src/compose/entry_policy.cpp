// The layer entry policy (see entry_policy.h); tested as a table in entry_policy_test.cpp.
#include "compose/entry_policy.h"

#include <sys/stat.h>

namespace imageinit::compose {

bool under_dev(std::string_view path) { return path.starts_with("dev/"); }

PolicyDecision apply_entry_policy(const TarEntryInfo& e) {
    PolicyDecision d;
    std::string quoted = "'" + std::string(e.path) + "'";
    if (e.hardlink && e.target_dropped) {
        d.action = EntryAction::kDrop;
        d.warning = "hard link " + quoted + " to a dropped entry dropped";
        return d;
    }
    if (S_ISCHR(e.type) || S_ISBLK(e.type)) {
        if (!under_dev(e.path)) {
            d.action = EntryAction::kDrop;
            d.warning = std::string(e.hardlink ? "hard link to a device node " : "device node ") +
                        quoted + " outside /dev dropped";
        }
        return d;
    }
    // Set-id bits mean something on files only (a setgid directory only passes its group on).
    d.set_id = !S_ISDIR(e.type) && (e.mode & (S_ISUID | S_ISGID)) != 0;
    d.capabilities = e.has_capabilities;
    return d;
}

}  // namespace imageinit::compose
