// Platform matching follows the image-spec's index.md and containerd's platforms package in
// spirit: OS and architecture must match; arm64's variant "v8" is its default; without a
// requested variant the entry without one wins, else the only one.
#include "compose/registry/platform.h"

#include <iterator>
#include <vector>

#include "compose/json_reader.h"

namespace imageinit::compose::registry {
namespace {

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

bool valid_word(std::string_view w) {
    if (w.empty() || w.size() > 32) return false;
    for (char c : w)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

std::string normal_variant(std::string_view arch, std::string_view variant) {
    if (arch == "arm64" && variant == "v8") return "";
    return std::string(variant);
}

std::string media_type_only(std::string_view content_type) {
    std::string_view t = content_type.substr(0, content_type.find(';'));
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    return std::string(t);
}

}  // namespace

const char* const kManifestMediaTypes[] = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
};
const size_t kManifestMediaTypeCount = std::size(kManifestMediaTypes);

std::string Platform::to_string() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Result<Platform> parse_platform(std::string_view text) {
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        size_t slash = text.find('/', start);
        parts.push_back(
            text.substr(start, slash == std::string_view::npos ? slash : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    if (parts.size() < 2 || parts.size() > 3)
        return fail("platform '" + std::string(text) + "': expected OS/ARCH[/VARIANT]");
    for (std::string_view p : parts)
        if (!valid_word(p))
            return fail("platform '" + std::string(text) + "': malformed part '" + std::string(p) +
                        "'");
    Platform p{std::string(parts[0]), std::string(parts[1]),
               parts.size() == 3 ? std::string(parts[2]) : std::string()};
    return p;
}

Platform host_platform() {
#if defined(__x86_64__)
    return {"linux", "amd64", ""};
#elif defined(__aarch64__)
    return {"linux", "arm64", ""};
#elif defined(__arm__)
    return {"linux", "arm", "v7"};
#elif defined(__riscv)
    return {"linux", "riscv64", ""};
#elif defined(__i386__)
    return {"linux", "386", ""};
#else
    return {"linux", "unknown", ""};
#endif
}

Result<DocumentKind> document_kind(std::string_view body, std::string_view content_type) {
    JsonValue doc = TRY_CTX(parse_json(body), "manifest");
    if (!doc.is_object()) return fail("manifest: not a JSON object");
    const JsonValue* version = doc.get("schemaVersion");
    if (version && version->is_number() && version->number == 1)
        return fail(
            "manifest: Docker schema 1 is not supported (push the image again with a "
            "current client)");
    std::string type = doc.get_string("mediaType");
    if (type.empty()) type = media_type_only(content_type);
    if (type == kOciIndex || type == kDockerList) return DocumentKind::kIndex;
    if (type == kOciManifest || type == kDockerManifest) return DocumentKind::kManifest;
    if (type.empty() || type == "application/json") {
        // An OCI document may omit mediaType: its shape tells.
        if (doc.get("manifests")) return DocumentKind::kIndex;
        if (doc.get("layers")) return DocumentKind::kManifest;
    }
    return fail("manifest: unsupported media type '" + type + "'");
}

Result<Descriptor> select_platform(std::string_view index_json, const Platform& want) {
    JsonValue index = TRY_CTX(parse_json(index_json), "index");
    const JsonValue* list = index.get("manifests");
    if (!list || !list->is_array() || list->array.empty()) return fail("index: no manifests");
    std::string want_variant = normal_variant(want.architecture, want.variant);
    std::vector<Descriptor> exact, plain, any;
    std::string available;
    for (const JsonValue& m : list->array) {
        const JsonValue* p = m.get("platform");
        if (!p) continue;  // attestations and other non-image entries carry none
        std::string os = p->get_string("os"), arch = p->get_string("architecture");
        std::string variant = normal_variant(arch, p->get_string("variant"));
        std::string name = os + "/" + arch + (variant.empty() ? "" : "/" + variant);
        if (available.find(name) == std::string::npos)
            available += (available.empty() ? "" : ", ") + name;
        if (os != want.os || arch != want.architecture) continue;
        Descriptor d = TRY_CTX(parse_descriptor(m), "index");
        if (!want_variant.empty()) {
            if (variant == want_variant) exact.push_back(d);
            continue;
        }
        if (variant.empty()) plain.push_back(d);
        any.push_back(std::move(d));
    }
    for (const auto* set : {&exact, &plain, &any}) {
        if (set->size() == 1) return set->front();
        if (set->size() > 1)
            return fail("index: " + std::to_string(set->size()) + " manifests for " +
                        want.to_string());
    }
    return fail("index: no manifest for " + want.to_string() + " (it has " +
                (available.empty() ? std::string("none with a platform") : available) + ")");
}

}  // namespace imageinit::compose::registry
