// The composed tree's report (see tree_report.h).
#include "compose/tree_report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "compose/tree_walk.h"
#include "sys/unique_fd.h"

namespace imageinit::compose {
namespace {

class Reporter : public TreeVisitor {
  public:
    Result<bool> visit(const WalkEntry& e) override {
        ++report.entries;
        if (e.depth > report.max_depth) report.max_depth = e.depth;
        mode_t type = e.st.st_mode & S_IFMT;
        if (type == S_IFCHR || type == S_IFBLK) report.devices.push_back(e.path);
        if (type != S_IFREG) return type == S_IFDIR;
        if (e.st.st_mode & (S_ISUID | S_ISGID)) report.set_id.push_back(e.path);
        // Capabilities live on regular files only; O_NONBLOCK and the S_IFREG check above
        // keep a fifo from blocking the open.
        sys::UniqueFd fd(
            ::openat(e.dirfd, e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!fd) return fail_errno("open", e.path);
        if (::fgetxattr(fd.get(), "security.capability", nullptr, 0) >= 0) {
            report.capabilities.push_back(e.path);
        } else if (errno != ENODATA && errno != ENOTSUP) {
            return fail_errno("fgetxattr security.capability", e.path);
        }
        return false;
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
