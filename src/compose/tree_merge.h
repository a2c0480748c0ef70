// Applies cached layer trees, in order, onto a staging root: whiteouts and opaque directories
// first (they act on lower layers only), then the layer's content as hard links into the cache.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "compose/layer_cache.h"

namespace imageinit::compose {

struct MergeStats {
    uint64_t linked = 0;  // files hard-linked from the cache
    uint64_t copied = 0;  // files copied (cache on another file system, link limit)
    uint64_t dirs = 0;
    uint64_t removed = 0;  // whiteouts and opaque directories that hid something
};

Result<void> apply_layer(int staging_fd, const CachedLayer& layer, MergeStats& stats);

// The staging tree shares inodes with the cache, so it is only ever read after composing:
// mkfs reads it, nothing writes through it.

}  // namespace imageinit::compose
