// Reading an OCI image layout (image-spec layout.md): index.json -> manifest -> layer descriptors,
// with every blob's digest and size verified. Parsing is pure; blob reads are the only I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "compose/json_reader.h"

namespace imageinit::compose {

struct Descriptor {
    std::string media_type;
    std::string digest;  // "sha256:<64 lower-case hex>", validated
    std::string hex;     // the hex part, safe to use as a file name
    int64_t size = -1;
    std::string ref_name;  // annotation org.opencontainers.image.ref.name, if any
};

enum class Compression { kNone, kGzip, kZstd };

struct Layer {
    Descriptor desc;
    Compression compression = Compression::kNone;
};

struct Manifest {
    Descriptor config;
    std::vector<Layer> layers;
};

// "sha256:HEX" -> HEX; anything else (other algorithms, upper case, short) is an error, so the
// hex can never smuggle a path into blobs/.
Result<std::string> validate_digest(std::string_view digest);

// A descriptor object: mediaType, digest, size.
Result<Descriptor> parse_descriptor(const JsonValue& v);

// Picks the manifest from an index: the one whose ref name is `ref` when given, else the only
// one, else the only one for this machine's platform.
Result<Descriptor> select_manifest(std::string_view index_json, std::string_view ref);

bool is_index_media_type(std::string_view media_type);

Result<Manifest> parse_manifest(std::string_view manifest_json);

// DIR/blobs/sha256/HEX
std::string blob_path(const std::string& layout_dir, const Descriptor& d);

// Reads a small blob (index, manifest, config) and verifies its size and digest.
Result<std::string> read_verified_blob(const std::string& layout_dir, const Descriptor& d);

// Whether DIR looks like an OCI layout (has oci-layout and index.json).
bool is_oci_layout(const std::string& dir);

// index.json (following nested indexes) -> the manifest, verified.
Result<Manifest> load_manifest(const std::string& layout_dir, std::string_view ref,
                               Descriptor* manifest_desc);

}  // namespace imageinit::compose
