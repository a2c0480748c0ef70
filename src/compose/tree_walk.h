// Depth-first walks of the cache and staging trees without recursion and with one directory fd
// open at a time, so a layer of 60,000 nested directories can exhaust neither the stack nor the
// fd table. Nothing is followed: entries are lstat'ed, directories opened with O_NOFOLLOW.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>

#include "base/result.h"

namespace imageinit::compose {

struct WalkEntry {
    int dirfd;                // the directory holding the entry
    const std::string& name;  // one component
    const std::string& path;  // relative to the walk's root ("a/b/name")
    const struct stat& st;    // lstat of the entry
    size_t depth;             // 1 for the root's own entries
};

class TreeVisitor {
  public:
    virtual ~TreeVisitor() = default;
    // Every entry, in sorted order per directory; true descends into a directory.
    virtual Result<bool> visit(const WalkEntry& e) = 0;
    // Around a directory's entries; `e.dirfd` is the directory's parent both times. After
    // leave() the directory may be removed (its entries were listed before they were visited).
    virtual Result<void> enter(const WalkEntry& e) {
        (void)e;
        return ok();
    }
    virtual Result<void> leave(const WalkEntry& e) {
        (void)e;
        return ok();
    }
};

// Walks everything below `root_fd` (not the root itself). Going back up is by "..", checked
// against the device and inode the walk came from: a tree changed under the walk is an error.
Result<void> walk_tree(int root_fd, TreeVisitor& visitor);

}  // namespace imageinit::compose
