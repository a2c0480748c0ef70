// Where compose's layers come from: a registry (blobs fetched into the cache on a miss), or an
// OCI layout directory. Either way the result is a verified manifest and a directory holding
// blobs/sha256/HEX for every layer the cache does not have unpacked yet.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "compose/layer_cache.h"
#include "compose/oci_layout.h"
#include "compose/registry/options.h"
#include "compose/registry/reference.h"

namespace imageinit::compose::registry {

struct ResolvedImage {
    std::string blob_dir;  // the layout dir, or the cache root for registry downloads
    Manifest manifest;
    Descriptor manifest_desc;
    std::string reference;             // what a slot records: "docker://…" or "oci:DIR[:REF]"
    std::vector<std::string> fetched;  // blobs downloaded into the cache (removed once unpacked)
};

// Whether INPUT names layers (registry, oci:, or a layout directory) rather than a root dir.
bool has_layers(const Source& source);

// Resolves the manifest and makes every layer missing from `cache` available as a blob. The
// manifest is kept in CACHE/manifests/sha256/HEX, so `gc` knows which layers a slot needs.
Result<ResolvedImage> resolve_image(const Source& source, const std::string& legacy_ref,
                                    const RegistryOptions& opts, LayerCache& cache);

// Removes the downloaded blobs once their layers are unpacked (the trees are what is reused).
void drop_fetched_blobs(const ResolvedImage& image);

// CACHE/manifests/sha256/HEX
std::string cached_manifest_path(const std::string& cache_root, const std::string& hex);

}  // namespace imageinit::compose::registry
