// `imageinit-compose gc`: the layer cache keeps the layers of the manifests still in use (the
// slots' images, so a rollback never needs the network) and loses everything else.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::compose::registry {

struct GcOptions {
    std::string cache_dir = "/var/cache/imageinit-compose";
    std::vector<std::string> keep;        // manifest digests
    std::vector<std::string> slots_dirs;  // every DIR/*.img.source names one more
    bool dry_run = false;
};

struct GcStats {
    size_t kept_manifests = 0, kept_layers = 0;
    size_t removed_layers = 0, removed_blobs = 0, removed_manifests = 0;
    std::vector<std::string> warnings;  // slot manifests not in this cache
};

// Refuses (removing nothing) when no manifest is to be kept, or when a --keep manifest is not
// in the cache: its layers cannot be known. A slot's manifest missing from the cache (its image
// was composed elsewhere, or before the cache was reset) is a warning: it keeps nothing.
Result<GcStats> collect(const GcOptions& opts);

}  // namespace imageinit::compose::registry
