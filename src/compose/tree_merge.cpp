// Layer application over directory fds, walked without recursion (tree_walk.h). Nothing in the
// staging tree is followed: a lower layer's symlink named like an upper layer's directory is
// replaced, never traversed.
#include "compose/tree_merge.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"
#include "compose/fs_util.h"
#include "compose/tree_walk.h"
#include "compose/whiteout.h"

namespace imageinit::compose {
namespace {

// The whiteout and opaque markers of a cached layer tree, as paths for plan_layer. Only these
// are kept: a list of every path would grow with the square of the depth.
class MarkerCollector : public TreeVisitor {
  public:
    Result<bool> visit(const WalkEntry& e) override {
        if (e.name.starts_with(kWhiteoutPrefix)) paths.push_back(e.path);
        return true;
    }
    std::vector<std::string> paths;
};

// Applies a cached layer tree (the walk's tree) onto the staging tree, one directory level at
// a time: dst_ is the staging directory matching the walk's current directory.
class Merger : public TreeVisitor {
  public:
    Merger(const CachedLayer& layer, MergeStats& stats, UniqueFd dst)
        : layer_(layer), stats_(stats), dst_(std::move(dst)) {}

    Result<bool> visit(const WalkEntry& e) override {
        // Markers were applied by apply_layer; entries below one were refused at unpacking.
        if (e.name.starts_with(kWhiteoutPrefix)) return false;
        struct stat cur;
        bool exists = ::fstatat(dst_.get(), e.name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0;
        if (!exists && errno != ENOENT) return fail_errno("stat", e.path);
        if (S_ISDIR(e.st.st_mode)) {
            TRY_CTX(merge_dir(e, exists && S_ISDIR(cur.st_mode), exists), e.path);
            return true;
        }
        if (exists) TRY_CTX(remove_at(dst_.get(), e.name), e.path);
        TRY_CTX(place_node(e), e.path);
        return false;
    }

    Result<void> enter(const WalkEntry& e) override {
        struct stat st;
        if (::fstat(dst_.get(), &st) != 0) return fail_errno("stat", e.path);
        up_.push_back(st);
        dst_ = TRY_CTX(open_dir_at(dst_.get(), e.name), e.path);
        return ok();
    }

    Result<void> leave(const WalkEntry& e) override {
        UniqueFd up(::openat(dst_.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct stat st;
        if (!up || ::fstat(up.get(), &st) != 0) return fail_errno("open", e.path + "/..");
        if (st.st_dev != up_.back().st_dev || st.st_ino != up_.back().st_ino)
            return fail("staging '" + e.path + "' was moved during the merge");
        up_.pop_back();
        dst_ = std::move(up);
        return ok();
    }

  private:
    Result<void> merge_dir(const WalkEntry& e, bool dst_is_dir, bool exists) {
        if (!dst_is_dir) {
            if (exists) TRY(remove_at(dst_.get(), e.name));
            if (::mkdirat(dst_.get(), e.name.c_str(), 0700) != 0)
                return fail_errno("mkdir", e.path);
            TRY(copy_metadata(e.dirfd, e.name, e.st, dst_.get(), e.name));
            ++stats_.dirs;
        } else if (layer_.explicit_dirs.count(e.path)) {
            // The archive named this directory: its metadata replaces the lower layer's. A
            // directory only implied by a deeper path keeps what the lower layers gave it.
            TRY(copy_metadata(e.dirfd, e.name, e.st, dst_.get(), e.name));
        }
        return ok();
    }

    Result<void> place_node(const WalkEntry& e) {
        if (::linkat(e.dirfd, e.name.c_str(), dst_.get(), e.name.c_str(), 0) == 0) {
            ++stats_.linked;
            return ok();
        }
        if (errno != EXDEV && errno != EMLINK && errno != EPERM) return fail_errno("link", e.name);
        ++stats_.copied;
        return copy_node(e.dirfd, e.name, e.st, dst_.get());
    }

    const CachedLayer& layer_;
    MergeStats& stats_;
    UniqueFd dst_;
    std::vector<struct stat> up_;  // the staging directories above dst_, to check the way up
};

}  // namespace

Result<void> apply_layer(int staging_fd, const CachedLayer& layer, MergeStats& stats) {
    UniqueFd tree = TRY(open_dir(layer.tree));
    MarkerCollector markers;
    TRY_CTX(walk_tree(tree.get(), markers), layer.tree);
    LayerPlan plan = TRY_CTX(plan_layer(markers.paths), layer.digest);

    for (const std::string& dir : plan.opaque_dirs) {
        UniqueFd fd = TRY(walk_dir(staging_fd, dir));
        if (!fd) continue;  // nothing below to hide
        if (!TRY(list_dir(fd.get())).empty()) ++stats.removed;
        TRY_CTX(remove_children(fd.get()), "opaque '" + dir + "'");
    }
    for (const std::string& target : plan.deletions) {
        size_t slash = target.rfind('/');
        std::string parent = slash == std::string::npos ? "" : target.substr(0, slash);
        std::string name = slash == std::string::npos ? target : target.substr(slash + 1);
        UniqueFd fd = TRY(walk_dir(staging_fd, parent));
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
    UniqueFd dst(::fcntl(staging_fd, F_DUPFD_CLOEXEC, 0));
    if (!dst) return fail_errno("dup", "staging");
    Merger merger(layer, stats, std::move(dst));
    return add_context(walk_tree(tree.get(), merger), layer.digest);
}

}  // namespace imageinit::compose
