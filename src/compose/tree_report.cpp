// The composed tree's report (see tree_report.h).
#include "compose/tree_report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/unique_fd.h"
#include "compose/entry_policy.h"
#include "compose/tree_walk.h"

namespace imageinit::compose {
namespace {

class Reporter : public TreeVisitor {
  public:
    Result<bool> visit(const WalkEntry& e) override {
        ++report.entries;
        if (e.depth > report.max_depth) report.max_depth = e.depth;
        TarEntryInfo info;
        info.path = e.path;
        info.type = e.st.st_mode & S_IFMT;
        info.mode = e.st.st_mode & 07777;
        if (S_ISREG(e.st.st_mode)) info.has_capabilities = TRY(has_capabilities(e));
        // The same rule that admitted the entry says what is worth listing.
        PolicyDecision d = apply_entry_policy(info);
        if (S_ISCHR(info.type) || S_ISBLK(info.type)) report.devices.push_back(e.path);
        if (d.set_id) report.set_id.push_back(e.path);
        if (d.capabilities) report.capabilities.push_back(e.path);
        return S_ISDIR(e.st.st_mode);
    }

    // Capabilities live on regular files only; O_NONBLOCK keeps a fifo swapped in after the
    // lstat from blocking the open.
    static Result<bool> has_capabilities(const WalkEntry& e) {
        UniqueFd fd(
            ::openat(e.dirfd, e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!fd) return fail_errno("open", e.path);
        if (::fgetxattr(fd.get(), "security.capability", nullptr, 0) >= 0) return true;
        if (errno == ENODATA || errno == ENOTSUP) return false;
        return fail_errno("fgetxattr security.capability", e.path);
    }
    TreeReport report;
};

std::string joined(const char* what, const std::vector<std::string>& paths) {
    std::string line = std::string(what) + " (" + std::to_string(paths.size()) + "):";
    for (size_t i = 0; i < paths.size(); ++i) line += (i ? ", " : " ") + paths[i];
    return line;
}

}  // namespace

Result<TreeReport> report_tree(int root_fd) {
    Reporter r;
    TRY(walk_tree(root_fd, r));
    return std::move(r.report);
}

std::vector<std::string> report_lines(const TreeReport& r) {
    std::vector<std::string> lines;
    if (!r.set_id.empty()) lines.push_back(joined("set-id files", r.set_id));
    if (!r.capabilities.empty()) lines.push_back(joined("file capabilities", r.capabilities));
    if (!r.devices.empty()) lines.push_back(joined("device nodes", r.devices));
    return lines;
}

}  // namespace imageinit::compose
