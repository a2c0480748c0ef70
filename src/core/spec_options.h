// The options field of one mount spec line (contract §5): x-imageinit.* and nofail taken out,
// what the rest may not contain (overlay directories, propagation changes, paths in mount data).
// Internal to the spec parser; split out of mount_spec.cpp so each file keeps one concern.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"

namespace imageinit::core {

// What the options field says, once x-imageinit.* and nofail are taken out.
struct OptionFacts {
    std::string kept;                  // the options that go on to the planner
    std::optional<std::string> upper;  // x-imageinit.upper
    std::optional<std::string> scope;  // x-imageinit.scope
    bool nofail = false, bind = false, suid = false, dev = false;
};

// Walks the options with libmount's tokenizer (it knows about quoted values). Errors come back
// without file:line; the parser adds it.
Result<OptionFacts> read_options(const std::string& options);

// Filesystem-specific options become mount(2) data. No path may travel that way (the executor
// resolves every path itself, in the new root), so a '/' there is refused.
Result<void> check_no_path_in_data(const std::string& kept);

}  // namespace imageinit::core
