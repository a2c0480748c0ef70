// The compose run: verify and unpack (or reuse) layers, merge them into a staging root, make the
// image, lint it, add verity sidecars, then move everything into place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "compose/mkfs.h"
#include "compose/registry/options.h"

namespace imageinit::compose {

struct Options {
    std::string input;
    std::string output;
    std::string cache_dir = "/var/cache/imageinit-compose";
    std::string ref;
    MkfsOptions mkfs;  // uuid "" = derived from the manifest digest
    bool verity = false;
    // --sign KEY --cert CERT (PEM files; implies verity): OUTPUT.roothash.p7s, the detached
    // PKCS#7 signature of the root hash that `mkinitrd --trust CERT` boots (docs/integrity.md).
    std::string sign_key, sign_cert;
    bool check = true;
    std::string check_with;  // "" = find imageinit next to this executable
    std::string self_exe;
    bool keep_staging = false;
    registry::RegistryOptions registry;  // docker:// inputs (src/compose/registry/)
    std::string digestfile;              // --digestfile: the manifest digest is written here
    // Bound on what the layers unpacked by this compose may declare (see unpack_limit.h);
    // nullopt = derived from the cache file system's free space.
    std::optional<uint64_t> max_unpacked_size;
};

// Prints one line per layer ("layer sha256:abcd… cached") and a summary; the image and its
// sidecars appear only once everything, including the lint, succeeded.
Result<void> compose(const Options& opts);

}  // namespace imageinit::compose
