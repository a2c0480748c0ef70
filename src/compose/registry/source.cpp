// Source resolution for compose (contract §11): the registry path fetches on cache miss; the
// layout path reads blobs in place.
#include "compose/registry/source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "compose/fs_util.h"
#include "compose/registry/blob_fetch.h"
#include "compose/registry/client.h"
#include "compose/registry/http.h"

namespace imageinit::compose::registry {
namespace {

bool tree_cached(const LayerCache& cache, const Descriptor& d) {
    struct stat st;
    return ::stat((cache.root() + "/layers/sha256/" + d.hex + "/tree").c_str(), &st) == 0;
}

// Written whole under a temporary name and renamed: gc never reads half a manifest.
Result<void> keep_manifest(const std::string& cache_root, const Descriptor& d,
                           const std::string& json) {
    std::string dir = cache_root + "/manifests/sha256";
    TRY(mkdir_p(dir, 0700));
    std::string path = cached_manifest_path(cache_root, d.hex);
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "wbe");
    if (!f) return fail_errno("open", tmp);
    bool written = std::fwrite(json.data(), 1, json.size(), f) == json.size();
    written = (std::fflush(f) == 0) && written && ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return fail_errno("write", path);
    }
    return ok();
}

}  // namespace

std::string cached_manifest_path(const std::string& cache_root, const std::string& hex) {
    return cache_root + "/manifests/sha256/" + hex;
}

bool has_layers(const Source& source) {
    return source.kind != SourceKind::kPath || is_oci_layout(source.dir);
}

Result<ResolvedImage> resolve_image(const Source& source, const std::string& legacy_ref,
                                    const RegistryOptions& opts, LayerCache& cache) {
    ResolvedImage out;
    if (source.kind != SourceKind::kRegistry) {
        // oci:DIR[:REF] or a layout directory (then --ref names the manifest, as before).
        std::string ref = source.kind == SourceKind::kOciLayout ? source.ref : legacy_ref;
        if (!is_oci_layout(source.dir))
            return fail("'" + source.dir +
                        "' is not an OCI image layout (no oci-layout, index.json)");
        out.blob_dir = source.dir;
        out.manifest = TRY(load_manifest(source.dir, ref, &out.manifest_desc));
        out.reference = "oci:" + source.dir + (ref.empty() ? "" : ":" + ref);
        std::string json = TRY(read_verified_blob(source.dir, out.manifest_desc));
        TRY(keep_manifest(cache.root(), out.manifest_desc, json));
        return out;
    }
    http_global_init();
    auto registry = TRY(Registry::open(source.image, opts));
    HttpClient http = TRY(registry->connect());
    if (!opts.tls_verify)
        std::fprintf(stderr,
                     "imageinit-compose: WARNING: --tls-verify=false: the registry's identity is "
                     "NOT checked and plain http is allowed; only digests protect this pull\n");
    FetchedManifest fetched = TRY(registry->fetch_manifest(http, opts.platform));
    out.manifest = std::move(fetched.manifest);
    out.manifest_desc = fetched.desc;
    out.blob_dir = cache.root();
    out.reference = source.image.to_string();
    std::vector<Descriptor> missing;
    for (const Layer& l : out.manifest.layers)
        if (!tree_cached(cache, l.desc)) missing.push_back(l.desc);
    std::printf("manifest %s from %s: %zu layers, %zu to download\n", fetched.desc.digest.c_str(),
                out.reference.c_str(), out.manifest.layers.size(), missing.size());
    std::fflush(stdout);
    FetchStats stats = TRY(fetch_blobs(*registry, missing, cache.root()));
    if (stats.blobs) std::printf("downloaded %zu blobs, %.1f MB\n", stats.blobs, stats.bytes / 1e6);
    for (const Descriptor& d : missing) out.fetched.push_back(cached_blob_path(cache.root(), d));
    TRY(keep_manifest(cache.root(), out.manifest_desc, fetched.json));
    return out;
}

void drop_fetched_blobs(const ResolvedImage& image) {
    for (const std::string& path : image.fetched) ::unlink(path.c_str());
}

}  // namespace imageinit::compose::registry
