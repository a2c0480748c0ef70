// OCI layout parsing and verified blob reads. Media types follow image-spec media-types.md; the
// Docker v2 names are accepted too because `skopeo copy` keeps them when converting.
#include "compose/oci_layout.h"

#include <sys/stat.h>
#include <sys/utsname.h>

#include <fstream>
#include <sstream>

#include "compose/sha256.h"

namespace imageinit::compose {
namespace {

constexpr int64_t kMaxJsonBlob = 4 << 20;  // manifests are a few KiB; refuse absurd ones
constexpr int kMaxIndexDepth = 4;

std::string host_arch() {
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__arm__)
    return "arm";
#elif defined(__riscv)
    return "riscv64";
#else
    return "";
#endif
}

Result<std::string> read_file(const std::string& path, int64_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail_errno("open", path);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (static_cast<int64_t>(text.size()) > limit) return fail("'" + path + "': too large");
    return text;
}

}  // namespace

Result<std::string> validate_digest(std::string_view digest) {
    constexpr std::string_view kPrefix = "sha256:";
    if (digest.substr(0, kPrefix.size()) != kPrefix)
        return fail("unsupported digest '" + std::string(digest) + "' (only sha256)");
    std::string_view hex = digest.substr(kPrefix.size());
    if (hex.size() != 64) return fail("malformed digest '" + std::string(digest) + "'");
    for (char c : hex) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fail("malformed digest '" + std::string(digest) + "'");
    }
    return std::string(hex);
}

Result<Descriptor> parse_descriptor(const JsonValue& v) {
    if (!v.is_object()) return fail("descriptor is not an object");
    Descriptor d;
    d.media_type = v.get_string("mediaType");
    d.digest = v.get_string("digest");
    d.hex = TRY(validate_digest(d.digest));
    const JsonValue* size = v.get("size");
    if (!size) return fail("descriptor " + d.digest + ": missing size");
    Result<int64_t> n = json_size(*size);
    if (!n) return fail("descriptor " + d.digest + ": size " + n.error().message);
    d.size = *n;
    if (const JsonValue* ann = v.get("annotations"))
        d.ref_name = ann->get_string("org.opencontainers.image.ref.name");
    return d;
}

bool is_index_media_type(std::string_view media_type) {
    return media_type == "application/vnd.oci.image.index.v1+json" ||
           media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

Result<Descriptor> select_manifest(std::string_view index_json, std::string_view ref) {
    JsonValue index = TRY_CTX(parse_json(index_json), "index");
    const JsonValue* list = index.get("manifests");
    if (!list || !list->is_array() || list->array.empty()) return fail("index: no manifests");
    std::vector<Descriptor> all;
    std::vector<Descriptor> for_platform;
    for (const JsonValue& m : list->array) {
        Descriptor d = TRY_CTX(parse_descriptor(m), "index");
        if (!ref.empty() && d.ref_name == ref) return d;
        const JsonValue* platform = m.get("platform");
        if (platform && platform->get_string("os") == "linux" &&
            platform->get_string("architecture") == host_arch())
            for_platform.push_back(d);
        all.push_back(std::move(d));
    }
    if (!ref.empty()) return fail("index: no manifest named '" + std::string(ref) + "'");
    if (all.size() == 1) return all.front();
    if (for_platform.size() == 1) return for_platform.front();
    return fail("index lists " + std::to_string(all.size()) +
                " manifests: choose one with --ref NAME");
}

Result<Manifest> parse_manifest(std::string_view manifest_json) {
    JsonValue m = TRY_CTX(parse_json(manifest_json), "manifest");
    Manifest out;
    const JsonValue* config = m.get("config");
    if (!config) return fail("manifest: no config");
    out.config = TRY_CTX(parse_descriptor(*config), "manifest config");
    const JsonValue* layers = m.get("layers");
    if (!layers || !layers->is_array()) return fail("manifest: no layers");
    for (const JsonValue& l : layers->array) {
        Layer layer;
        layer.desc = TRY_CTX(parse_descriptor(l), "manifest layer");
        std::string_view mt = layer.desc.media_type;
        if (mt.ends_with(".tar") || mt.ends_with(".tar.gzip") || mt.ends_with("tar+gzip") ||
            mt.ends_with(".tar.zstd") || mt.ends_with("tar+zstd")) {
            layer.compression = mt.ends_with("gzip")   ? Compression::kGzip
                                : mt.ends_with("zstd") ? Compression::kZstd
                                                       : Compression::kNone;
        } else {
            return fail("layer " + layer.desc.digest + ": unsupported media type '" +
                        layer.desc.media_type + "'");
        }
        out.layers.push_back(std::move(layer));
    }
    return out;
}

std::string blob_path(const std::string& layout_dir, const Descriptor& d) {
    return layout_dir + "/blobs/sha256/" + d.hex;
}

Result<std::string> read_verified_blob(const std::string& layout_dir, const Descriptor& d) {
    std::string path = blob_path(layout_dir, d);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return fail(errno, "blob " + d.digest + " is missing");
    if (st.st_size > kMaxJsonBlob) return fail("blob " + d.digest + " is too large for json");
    std::string text = TRY(read_file(path, kMaxJsonBlob));
    if (static_cast<int64_t>(text.size()) != d.size)
        return fail("blob " + d.digest + ": size " + std::to_string(text.size()) +
                    " does not match the descriptor's " + std::to_string(d.size));
    if (sha256_hex(text) != d.hex)
        return fail("blob " + d.digest +
                    ": digest mismatch (content is sha256:" + sha256_hex(text) + ")");
    return text;
}

bool is_oci_layout(const std::string& dir) {
    struct stat st;
    return ::stat((dir + "/oci-layout").c_str(), &st) == 0 &&
           ::stat((dir + "/index.json").c_str(), &st) == 0;
}

Result<Manifest> load_manifest(const std::string& layout_dir, std::string_view ref,
                               Descriptor* manifest_desc) {
    std::string index = TRY(read_file(layout_dir + "/index.json", kMaxJsonBlob));
    for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
        // A ref name selects at the top level only; nested indexes are per-platform lists.
        Descriptor d = TRY(select_manifest(index, depth == 0 ? ref : std::string_view()));
        std::string blob = TRY(read_verified_blob(layout_dir, d));
        if (is_index_media_type(d.media_type)) {
            index = std::move(blob);
            continue;
        }
        Manifest m = TRY_CTX(parse_manifest(blob), d.digest);
        TRY(read_verified_blob(layout_dir, m.config));
        if (manifest_desc) *manifest_desc = d;
        return m;
    }
    return fail("index: nested indexes deeper than " + std::to_string(kMaxIndexDepth));
}

}  // namespace imageinit::compose
