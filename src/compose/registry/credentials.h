// Where a registry's credentials come from at run time: the auth files in order, and the
// docker credential helpers they name (`docker-credential-NAME get`, as docker and skopeo run
// them). The rules of which entry applies are the pure auth_file.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "compose/registry/auth_file.h"

namespace imageinit::compose::registry {

// Reads the candidates in order (missing files are skipped) and returns the first match; a
// helper that knows nothing of the registry lets the search go on to the next file.
Result<std::optional<Credentials>> find_credentials(const std::vector<std::string>& files,
                                                    std::string_view host,
                                                    std::string_view repository);

// Runs `docker-credential-HELPER get` (found in PATH) with the registry's server URL on its
// stdin. nullopt when the helper has no credentials for it ("credentials not found").
Result<std::optional<Credentials>> run_credential_helper(const std::string& helper,
                                                         std::string_view host);

}  // namespace imageinit::compose::registry
