// What INPUT names (contract §11): a registry image `docker://HOST[:PORT]/REPO[:TAG|@sha256:…]`,
// an OCI layout `oci:DIR[:REF]`, or a plain path. Pure parsing, skopeo's transport syntax.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace imageinit::compose::registry {

struct ImageReference {
    std::string host;        // "HOST" or "HOST:PORT", as the user wrote it (docker.io normalised)
    std::string repository;  // "library/debian", "org/team/image"
    std::string tag;         // "" when a digest is given
    std::string digest;      // "sha256:HEX" or ""

    // The tag or the digest: the last component of /v2/REPO/manifests/….
    std::string reference() const { return digest.empty() ? tag : digest; }
    // "docker://HOST/REPO:TAG" or "docker://HOST/REPO@DIGEST": what a slot records.
    std::string to_string() const;
};

enum class SourceKind { kRegistry, kOciLayout, kPath };

struct Source {
    SourceKind kind = SourceKind::kPath;
    ImageReference image;  // kRegistry
    std::string dir;       // kOciLayout, kPath
    std::string ref;       // kOciLayout: the ref name in index.json ("" = the only one)
};

// The part after "docker://". Like docker and skopeo, a first component without '.', ':' or
// "localhost" is a Docker Hub path ("debian" = docker.io/library/debian); no tag means "latest".
Result<ImageReference> parse_image_reference(std::string_view text);

// INPUT as a whole: "docker://…", "oci:DIR[:REF]", or a path (no transport prefix).
Result<Source> parse_source(std::string_view input);

}  // namespace imageinit::compose::registry
