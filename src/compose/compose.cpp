// Orchestration of one compose. Outputs are written under temporary names beside OUTPUT and
// renamed at the end, so a failed compose never leaves a half-made image under the final name.
#include "compose/compose.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "compose/fs_util.h"
#include "compose/layer_cache.h"
#include "compose/oci_layout.h"
#include "compose/registry/source.h"
#include "compose/sha256.h"
#include "compose/tree_merge.h"
#include "compose/tree_report.h"
#include "compose/unpack_limit.h"
#include "os/root_hash_signature.h"

namespace imageinit::compose {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double mb(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

// Removes a directory tree on scope exit unless released.
class TreeGuard {
  public:
    explicit TreeGuard(std::string path) : path_(std::move(path)) {}
    ~TreeGuard() {
        if (!path_.empty()) (void)remove_tree(path_);
    }
    void release() { path_.clear(); }

  private:
    std::string path_;
};

// Unlinks temporary output files on scope exit unless released.
class FileGuard {
  public:
    void add(std::string path) { paths_.push_back(std::move(path)); }
    ~FileGuard() {
        for (const std::string& p : paths_) ::unlink(p.c_str());
    }
    void release() { paths_.clear(); }

  private:
    std::vector<std::string> paths_;
};

// Where a compose's time goes (printed on the last line, read by the benchmarks).
struct PhaseTimes {
    double pull = 0;    // manifest and missing blobs from a registry
    double unpack = 0;  // layers not in the cache yet
    double merge = 0;   // the cached layer trees applied onto the staging tree
    double scan = 0;    // the tree report (set-id files, capabilities, depth)
    double mkfs = 0;
    double cleanup = 0;  // the staging tree removed
};

struct Composed {
    std::string source_dir;
    std::string uuid_seed;  // hex digest the UUID and verity salt derive from
    std::string manifest_digest;
    uint64_t content_bytes = 0;
    size_t layers = 0;
    size_t cached = 0;
    PhaseTimes times;
};

// The explicit --max-unpacked-size, else what the cache's file system has free (less a reserve).
Result<uint64_t> unpack_limit(const Options& opts, const LayerCache& cache) {
    if (opts.max_unpacked_size) return *opts.max_unpacked_size;
    struct statvfs vfs;
    if (::statvfs(cache.root().c_str(), &vfs) != 0) return fail_errno("statvfs", cache.root());
    return default_unpack_limit(static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize);
}

Result<void> compose_layers(const Options& opts, const registry::Source& source, LayerCache& cache,
                            const std::string& staging, Composed& out) {
    // Registry layers missing from the cache are downloaded (verified) first.
    auto t_pull = Clock::now();
    registry::ResolvedImage image =
        TRY(registry::resolve_image(source, opts.ref, opts.registry, cache));
    out.times.pull = seconds_since(t_pull);
    const Manifest& manifest = image.manifest;
    const Descriptor& manifest_desc = image.manifest_desc;
    out.manifest_digest = manifest_desc.digest;
    std::printf("manifest %s: %zu layers\n", manifest_desc.digest.c_str(), manifest.layers.size());
    out.uuid_seed = manifest_desc.hex;
    std::string root = staging + "/root";
    if (::mkdir(root.c_str(), 0755) != 0) return fail_errno("mkdir", root);
    UniqueFd root_fd = TRY(open_dir(root));
    MergeStats stats;
    UnpackBudget budget(TRY(unpack_limit(opts, cache)));
    for (const Layer& layer : manifest.layers) {
        auto t0 = Clock::now();
        CachedLayer c = TRY(cache.get(image.blob_dir, layer, budget));
        for (const std::string& w : c.warnings)
            std::fprintf(stderr, "imageinit-compose: warning: %s\n", w.c_str());
        std::string shown = layer.desc.digest.substr(0, 7 + 12) + "…";
        if (c.reused) {
            ++out.cached;
            std::printf("layer %s cached\n", shown.c_str());
        } else {
            std::printf("layer %s unpacked (%.1f MB, %.2f s)\n", shown.c_str(), mb(c.content_bytes),
                        seconds_since(t0));
        }
        std::fflush(stdout);
        out.times.unpack += seconds_since(t0);
        auto t_merge = Clock::now();
        TRY(apply_layer(root_fd.get(), c, stats));
        out.times.merge += seconds_since(t_merge);
        out.content_bytes += c.content_bytes;
        ++out.layers;
    }
    out.source_dir = root;
    registry::drop_fetched_blobs(image);
    return ok();
}

// --sign: OUT holds the detached PKCS#7 signature of ROOT_HASH (os/root_hash_signature.h, the
// same code `imageinit sign` uses).
Result<void> sign_root_hash_file(const std::string& root_hash, const Options& opts,
                                 const std::string& out) {
    auto slurp = [](const std::string& path) -> Result<std::string> {
        std::ifstream in(path, std::ios::binary);
        if (!in) return fail_errno("open", path);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    };
    std::string key = TRY(slurp(opts.sign_key));
    std::string cert = TRY(slurp(opts.sign_cert));
    std::string p7s = TRY(os::sign_root_hash(root_hash, key, cert));
    std::ofstream f(out, std::ios::binary);
    if (!(f << p7s) || !f.flush()) return fail_errno("write", out);
    return ok();
}

}  // namespace

Result<void> compose(const Options& opts) {
    if (!opts.sign_key.empty() && opts.sign_cert.empty())
        return fail(EINVAL, "--sign KEY needs --cert CERT (the certificate of KEY)");
    auto t0 = Clock::now();
    registry::Source source = TRY(registry::parse_source(opts.input));
    struct stat st;
    if (source.kind != registry::SourceKind::kRegistry) {
        if (::stat(source.dir.c_str(), &st) != 0) return fail_errno("stat", source.dir);
        if (!S_ISDIR(st.st_mode)) return fail("input '" + source.dir + "' is not a directory");
    }

    Composed composed;
    std::optional<TreeGuard> staging_guard;
    if (registry::has_layers(source)) {
        LayerCache cache = TRY(LayerCache::open(opts.cache_dir));
        std::string staging = TRY(cache.make_temp_dir("compose"));
        staging_guard.emplace(staging);
        TRY(compose_layers(opts, source, cache, staging, composed));
        if (opts.keep_staging) {
            std::printf("staging tree kept at %s\n", composed.source_dir.c_str());
            staging_guard->release();
        }
    } else {
        // A plain root directory: nothing to verify or merge, mkfs reads it as it is.
        composed.source_dir = source.dir;
        composed.uuid_seed =
            sha256_hex("imageinit-compose plain directory " + std::to_string(opts.mkfs.epoch));
    }

    // What the image will hold that a reviewer wants listed, and its depth for mkfs's hint.
    auto t_scan = Clock::now();
    UniqueFd source_fd = TRY(open_dir(composed.source_dir));
    TreeReport report = TRY_CTX(report_tree(source_fd.get()), composed.source_dir);
    source_fd.reset();
    composed.times.scan = seconds_since(t_scan);
    for (const std::string& line : report_lines(report)) std::printf("%s\n", line.c_str());

    MkfsOptions mkfs = opts.mkfs;
    if (mkfs.uuid.empty()) mkfs.uuid = uuid_from_hex(composed.uuid_seed);
    std::string tmp = opts.output + ".partial-" + std::to_string(::getpid());
    FileGuard tmp_files;
    tmp_files.add(tmp);
    auto t_mkfs = Clock::now();
    TRY_CTX(make_image(mkfs, composed.source_dir, tmp, report.max_depth), "mkfs");
    composed.times.mkfs = seconds_since(t_mkfs);

    if (opts.check) {
        std::string imageinit =
            opts.check_with.empty() ? find_imageinit(opts.self_exe) : opts.check_with;
        CheckResult check = TRY(run_check(imageinit, tmp));
        switch (check.outcome) {
            case CheckOutcome::kPassed:
                std::printf("imageinit check: passed\n");
                break;
            case CheckOutcome::kFailed:
                return fail("imageinit check failed: " + check.detail);
            case CheckOutcome::kUnavailable:
                std::fprintf(stderr,
                             "imageinit-compose: warning: image not linted: %s (pass --no-check "
                             "to skip the lint explicitly)\n",
                             check.detail.c_str());
                break;
        }
    }

    std::string root_hash;
    if (opts.verity) {
        tmp_files.add(tmp + ".verity");
        std::string salt = sha256_hex("imageinit-compose verity salt " + composed.uuid_seed);
        root_hash = TRY_CTX(make_verity(tmp, tmp + ".verity", salt, mkfs.uuid), "verity");
        std::ofstream(tmp + ".roothash") << root_hash << "\n";
        tmp_files.add(tmp + ".roothash");
        if (!opts.sign_key.empty()) {
            // Signed before anything is renamed: a wrong key leaves OUTPUT as it was.
            tmp_files.add(tmp + ".roothash.p7s");
            TRY_CTX(sign_root_hash_file(root_hash, opts, tmp + ".roothash.p7s"), "--sign");
        }
        // A signature beside OUTPUT is of this root hash or gone: never an older image's.
        if (::unlink((opts.output + ".roothash.p7s").c_str()) != 0 && errno != ENOENT)
            return fail_errno("unlink", opts.output + ".roothash.p7s");
        for (const char* ext : {".verity", ".roothash", ".roothash.p7s"}) {
            if (std::string(ext) == ".roothash.p7s" && opts.sign_key.empty()) continue;
            if (::rename((tmp + ext).c_str(), (opts.output + ext).c_str()) != 0)
                return fail_errno("rename", opts.output + ext);
        }
    }
    // The image last: its appearance under the final name means the sidecars are there too.
    if (::rename(tmp.c_str(), opts.output.c_str()) != 0) return fail_errno("rename", opts.output);
    tmp_files.release();

    if (::stat(opts.output.c_str(), &st) != 0) return fail_errno("stat", opts.output);
    auto t_cleanup = Clock::now();
    staging_guard.reset();
    composed.times.cleanup = seconds_since(t_cleanup);
    double total = seconds_since(t0);
    std::printf("composed %s: %s, %.1f MB, uuid %s", opts.output.c_str(),
                mkfs.format == ImageFormat::kErofs ? "erofs" : "squashfs", mb(st.st_size),
                mkfs.uuid.c_str());
    if (composed.layers) std::printf(", %zu layers (%zu cached)", composed.layers, composed.cached);
    std::printf("\n");
    if (!root_hash.empty()) std::printf("verity root hash %s\n", root_hash.c_str());
    if (!composed.manifest_digest.empty()) {
        std::printf("manifest digest %s\n", composed.manifest_digest.c_str());
        if (!opts.digestfile.empty() &&
            !(std::ofstream(opts.digestfile) << composed.manifest_digest << "\n"))
            return fail_errno("write", opts.digestfile);
    }
    if (composed.layers) {
        const PhaseTimes& t = composed.times;
        std::printf(
            "time %.2f s (pull %.2f s, unpack %.2f s, merge %.2f s, scan %.2f s, mkfs %.2f s, "
            "cleanup %.2f s), content %.1f MB, %.1f MB/s\n",
            total, t.pull, t.unpack, t.merge, t.scan, t.mkfs, t.cleanup, mb(composed.content_bytes),
            mb(composed.content_bytes) / total);
    }
    return ok();
}

}  // namespace imageinit::compose
