// What a security reviewer wants to see of a composed tree before it becomes an image: set-id
// files, file capabilities, device nodes; and its depth (mkfs overflows on very deep trees).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::compose {

struct TreeReport {
    std::vector<std::string> set_id;        // setuid/setgid files, e.g. "usr/bin/su"
    std::vector<std::string> capabilities;  // files with a security.capability xattr
    std::vector<std::string> devices;       // character and block device nodes
    uint64_t entries = 0;
    size_t max_depth = 0;  // 1 = an entry in the root
};

// Walks the tree (without recursion) and collects the above, in walk order (sorted per directory).
Result<TreeReport> report_tree(int root_fd);

// The summary lines compose prints, "set-id files (2): bin/su, bin/passwd"; none for an empty
// category.
std::vector<std::string> report_lines(const TreeReport& r);

}  // namespace imageinit::compose
