// The iterative tree walk (see tree_walk.h): an explicit stack of directory listings, one open fd.
#include "compose/tree_walk.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "base/unique_fd.h"
#include "compose/fs_util.h"

namespace imageinit::compose {
namespace {

struct Frame {
    std::vector<std::string> names;
    size_t next = 0;
    struct stat st {};      // the directory itself, to check the way back up
    std::string name;       // its name in the parent
    size_t parent_len = 0;  // length of the parent's path
};

}  // namespace

Result<void> walk_tree(int root_fd, TreeVisitor& visitor) {
    UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (!cur) return fail_errno("dup", "");
    std::vector<Frame> stack(1);
    stack.back().names = TRY(list_dir(cur.get()));
    if (::fstat(cur.get(), &stack.back().st) != 0) return fail_errno("stat", ".");
    std::string path;
    for (;;) {
        Frame& top = stack.back();
        if (top.next < top.names.size()) {
            std::string name = top.names[top.next++];
            size_t parent_len = path.size();
            if (!path.empty()) path += '/';
            path += name;
            struct stat st;
            if (::fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                return fail_errno("stat", path);
            WalkEntry e{cur.get(), name, path, st, stack.size()};
            if (!TRY(visitor.visit(e)) || !S_ISDIR(st.st_mode)) {
                path.resize(parent_len);
                continue;
            }
            TRY(visitor.enter(e));
            UniqueFd sub = TRY_CTX(open_dir_at(cur.get(), name), path);
            Frame next;
            next.names = TRY_CTX(list_dir(sub.get()), path);
            if (::fstat(sub.get(), &next.st) != 0) return fail_errno("stat", path);
            next.name = std::move(name);
            next.parent_len = parent_len;
            stack.push_back(std::move(next));
            cur = std::move(sub);
            continue;
        }
        if (stack.size() == 1) return ok();
        Frame done = std::move(stack.back());
        stack.pop_back();
        UniqueFd up(::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!up) return fail_errno("open", path + "/..");
        struct stat st;
        if (::fstat(up.get(), &st) != 0) return fail_errno("stat", path + "/..");
        if (st.st_dev != stack.back().st.st_dev || st.st_ino != stack.back().st.st_ino)
            return fail("'" + path + "' was moved during the walk");
        cur = std::move(up);
        WalkEntry e{cur.get(), done.name, path, done.st, stack.size()};
        TRY(visitor.leave(e));
        path.resize(done.parent_len);
    }
}

}  // namespace imageinit::compose
