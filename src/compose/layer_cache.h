// The content-addressed layer cache: each verified layer is unpacked once into
// CACHE/layers/sha256/HEX/tree (files with their owners, modes and xattrs) and reused by every
// later compose that shares it. Entries appear atomically (unpack aside, then rename).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "compose/oci_layout.h"
#include "compose/unpack_limit.h"

namespace imageinit::compose {

struct CachedLayer {
    std::string digest;
    std::string tree;                     // CACHE/layers/sha256/HEX/tree
    std::set<std::string> explicit_dirs;  // directories the archive named (others were implied)
    bool reused = false;                  // found in the cache, not unpacked now
    uint64_t blob_bytes = 0;              // compressed size read (0 when reused)
    uint64_t content_bytes = 0;           // regular-file bytes in the layer
    std::vector<std::string> warnings;    // entries the policy dropped (see entry_policy.h)
};

class LayerCache {
  public:
    // Creates CACHE/layers/sha256 and CACHE/tmp when missing.
    static Result<LayerCache> open(const std::string& root);

    // The cached tree for the layer, unpacking and verifying the blob on a miss, each entry
    // charged to `budget`. A missing or non-regular blob, a digest/size mismatch or an entry
    // past the budget fails with a message naming the digest.
    Result<CachedLayer> get(const std::string& layout_dir, const Layer& layer,
                            UnpackBudget& budget);

    // A fresh directory under CACHE/tmp, on the cache's file system so the staging tree can
    // hard-link cached files.
    Result<std::string> make_temp_dir(const std::string& prefix);

    const std::string& root() const { return root_; }

  private:
    explicit LayerCache(std::string root) : root_(std::move(root)) {}
    std::string layer_dir(const Descriptor& d) const;
    Result<CachedLayer> load(const Descriptor& d) const;
    Result<void> unpack(const std::string& layout_dir, const Layer& layer, const std::string& dest,
                        UnpackBudget& budget, CachedLayer& out);

    std::string root_;
};

}  // namespace imageinit::compose
