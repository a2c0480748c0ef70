// Layer application over directory fds. Nothing in the staging tree is followed: a lower layer's
// symlink named like an upper layer's directory is replaced, never traversed.
#include "compose/tree_merge.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compose/fs_util.h"
#include "compose/whiteout.h"
#include "sys/unique_fd.h"

namespace imageinit::compose {
namespace {

std::string join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
}

Result<void> collect(int dirfd, const std::string& rel, std::vector<std::string>& out) {
    for (const std::string& name : TRY(list_dir(dirfd))) {
        std::string path = join(rel, name);
        out.push_back(path);
        struct stat st;
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return fail_errno("stat", path);
        if (S_ISDIR(st.st_mode)) {
            sys::UniqueFd sub = TRY(open_dir_at(dirfd, name));
            TRY(collect(sub.get(), path, out));
        }
    }
    return ok();
}

class Merger {
  public:
    Merger(const CachedLayer& layer, MergeStats& stats) : layer_(layer), stats_(stats) {}

    Result<void> merge_dir(int src, int dst, const std::string& rel) {
        for (const std::string& name : TRY(list_dir(src))) {
            std::string path = join(rel, name);
            if (classify_entry(path).kind != EntryKind::kApply) continue;
            struct stat st, cur;
            if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                return fail_errno("stat", path);
            bool exists = ::fstatat(dst, name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0;
            if (!exists && errno != ENOENT) return fail_errno("stat", path);
            if (S_ISDIR(st.st_mode)) {
                TRY_CTX(
                    merge_subdir(src, dst, name, path, st, exists && S_ISDIR(cur.st_mode), exists),
                    path);
            } else {
                if (exists) TRY_CTX(remove_at(dst, name), path);
                TRY_CTX(place_node(src, dst, name, st), path);
            }
        }
        return ok();
    }

  private:
    Result<void> merge_subdir(int src, int dst, const std::string& name, const std::string& path,
                              const struct stat& st, bool dst_is_dir, bool exists) {
        if (!dst_is_dir) {
            if (exists) TRY(remove_at(dst, name));
            if (::mkdirat(dst, name.c_str(), 0700) != 0) return fail_errno("mkdir", path);
            TRY(copy_metadata(src, name, st, dst, name));
            ++stats_.dirs;
        } else if (layer_.explicit_dirs.count(path)) {
            // The archive named this directory: its metadata replaces the lower layer's. A
            // directory only implied by a deeper path keeps what the lower layers gave it.
            TRY(copy_metadata(src, name, st, dst, name));
        }
        sys::UniqueFd s = TRY(open_dir_at(src, name));
        sys::UniqueFd d = TRY(open_dir_at(dst, name));
        return merge_dir(s.get(), d.get(), path);
    }

    Result<void> place_node(int src, int dst, const std::string& name, const struct stat& st) {
        if (::linkat(src, name.c_str(), dst, name.c_str(), 0) == 0) {
            ++stats_.linked;
            return ok();
        }
        if (errno != EXDEV && errno != EMLINK && errno != EPERM) return fail_errno("link", name);
        ++stats_.copied;
        return copy_node(src, name, st, dst);
    }

    const CachedLayer& layer_;
    MergeStats& stats_;
};

}  // namespace

Result<void> apply_layer(int staging_fd, const CachedLayer& layer, MergeStats& stats) {
    sys::UniqueFd tree = TRY(open_dir(layer.tree));
    std::vector<std::string> paths;
    TRY_CTX(collect(tree.get(), "", paths), layer.tree);
    LayerPlan plan = TRY_CTX(plan_layer(paths), layer.digest);

    for (const std::string& dir : plan.opaque_dirs) {
        sys::UniqueFd fd = TRY(walk_dir(staging_fd, dir));
        if (!fd) continue;  // nothing below to hide
        if (!TRY(list_dir(fd.get())).empty()) ++stats.removed;
        TRY_CTX(remove_children(fd.get()), "opaque '" + dir + "'");
    }
    for (const std::string& target : plan.deletions) {
        size_t slash = target.rfind('/');
        std::string parent = slash == std::string::npos ? "" : target.substr(0, slash);
        std::string name = slash == std::string::npos ? target : target.substr(slash + 1);
        sys::UniqueFd fd = TRY(walk_dir(staging_fd, parent));
        if (!fd) continue;
        struct stat st;
        if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        ++stats.removed;
        TRY_CTX(remove_at(fd.get(), name), "whiteout '" + target + "'");
    }
    if (layer.explicit_dirs.count("")) {
        struct stat st;
        if (::fstat(tree.get(), &st) != 0) return fail_errno("stat", layer.tree);
        TRY(copy_metadata(tree.get(), ".", st, staging_fd, "."));
    }
    Merger merger(layer, stats);
    return add_context(merger.merge_dir(tree.get(), staging_fd, ""), layer.digest);
}

}  // namespace imageinit::compose
