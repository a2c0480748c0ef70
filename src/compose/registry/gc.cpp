// Mark (the kept manifests' layers) and sweep (layers/, blobs/, manifests/). A layer tree is
// renamed into tmp/ before it is deleted, so an interrupted gc never leaves half a layer under
// a name that compose would trust.
#include "compose/registry/gc.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "compose/fs_util.h"
#include "compose/oci_layout.h"
#include "compose/registry/source.h"
#include "core/slot_source.h"
#include "os/safe_open.h"

namespace imageinit::compose::registry {
namespace {

using Dir = std::unique_ptr<DIR, int (*)(DIR*)>;

Result<std::vector<std::string>> list_dir(const std::string& path, bool missing_ok) {
    Dir dir(::opendir(path.c_str()), ::closedir);
    if (!dir) {
        if (missing_ok && errno == ENOENT) return std::vector<std::string>();
        return fail_errno("opendir", path);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dir.get())) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(std::move(n));
    }
    return names;
}

// As install writes them (cli/slot_sources.cpp) and as the layout reader bounds a manifest.
constexpr size_t kMaxSidecar = 4096;
constexpr size_t kMaxManifest = 4 << 20;

}  // namespace

Result<GcStats> collect(const GcOptions& opts) {
    const std::string& cache = opts.cache_dir;
    std::set<std::string> keep_manifests;  // hex
    std::set<std::string> explicit_keep;   // given with --keep: must be in the cache
    for (const std::string& d : opts.keep) {
        std::string hex = TRY(validate_digest(d));
        keep_manifests.insert(hex);
        explicit_keep.insert(hex);
    }
    for (const std::string& dir : opts.slots_dirs) {
        // The slots directory is on STATE: a sidecar there is read from the directory's fd,
        // never through a symlink and never waiting on a fifo (os/safe_open.h).
        UniqueFd dir_fd = TRY(os::open_checked(AT_FDCWD, dir, os::Scope::kHost, os::Want::kDir));
        for (const std::string& name : TRY(list_dir(dir, false))) {
            if (!name.ends_with(".img.source")) continue;
            std::string path = dir + "/" + name;
            auto text = os::read_checked(dir_fd.get(), name, os::Scope::kPartition, kMaxSidecar);
            if (!text) return fail("'" + path + "': " + text.error().message + "; nothing removed");
            auto parsed = core::parse_slot_source(*text);
            if (!parsed) return fail("'" + path + "' is malformed; nothing removed");
            if (!parsed->digest.empty()) keep_manifests.insert(parsed->digest.substr(7));
        }
    }
    if (keep_manifests.empty())
        return fail(
            "no manifest to keep (--keep DIGEST or --keep-slots DIR); refusing to empty "
            "the cache");

    GcStats stats;
    std::set<std::string> keep_layers;
    for (auto it = keep_manifests.begin(); it != keep_manifests.end();) {
        const std::string hex = *it;
        std::string path = cached_manifest_path(cache, hex);
        auto json = os::read_checked(AT_FDCWD, path, os::Scope::kHost, kMaxManifest);
        if (!json && json.error().code != ENOENT)
            return fail("'" + path + "': " + json.error().message + "; nothing removed");
        if (!json && explicit_keep.count(hex))
            return fail("manifest sha256:" + hex + " is not in the cache '" + cache +
                        "' (its layers are unknown); nothing removed");
        if (!json) {
            // A slot's image composed with another cache (before a factory reset, or on
            // another machine): none of its layers were recorded here, so none are kept.
            stats.warnings.push_back("slot manifest sha256:" + hex +
                                     " is not in the cache: no layers kept for it");
            it = keep_manifests.erase(it);
            continue;
        }
        ++it;
        Manifest m = TRY_CTX(parse_manifest(*json), "manifest sha256:" + hex);
        for (const Layer& l : m.layers) keep_layers.insert(l.desc.hex);
        ++stats.kept_manifests;
    }
    if (keep_manifests.empty())
        return fail("none of the slots' manifests is in the cache '" + cache +
                    "' (wrong --cache?); nothing removed");
    stats.kept_layers = keep_layers.size();

    std::string tmp = cache + "/tmp";
    TRY(mkdir_p(tmp, 0700));
    for (const std::string& hex : TRY(list_dir(cache + "/layers/sha256", true))) {
        if (keep_layers.count(hex)) continue;
        ++stats.removed_layers;
        if (opts.dry_run) continue;
        std::string doomed = tmp + "/gc-" + hex;
        if (::rename((cache + "/layers/sha256/" + hex).c_str(), doomed.c_str()) != 0)
            return fail_errno("rename", cache + "/layers/sha256/" + hex);
        TRY(remove_tree(doomed));
    }
    for (const std::string& hex : TRY(list_dir(cache + "/blobs/sha256", true))) {
        if (keep_layers.count(hex)) continue;
        ++stats.removed_blobs;
        std::string path = cache + "/blobs/sha256/" + hex;
        if (!opts.dry_run && ::unlink(path.c_str()) != 0) return fail_errno("unlink", path);
    }
    for (const std::string& hex : TRY(list_dir(cache + "/manifests/sha256", true))) {
        if (keep_manifests.count(hex)) continue;
        ++stats.removed_manifests;
        std::string path = cache + "/manifests/sha256/" + hex;
        if (!opts.dry_run && ::unlink(path.c_str()) != 0) return fail_errno("unlink", path);
    }
    return stats;
}

}  // namespace imageinit::compose::registry
