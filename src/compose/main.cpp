// imageinit-compose: OCI image layout (or a plain directory) -> reproducible erofs/squashfs slot
// image, with optional dm-verity sidecars, linted by `imageinit check`. See docs/compose.md.
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "compose/compose.h"
#include "compose/registry/cli_options.h"
#include "compose/unpack_limit.h"

namespace {

using imageinit::compose::Options;

void usage(FILE* to) {
    std::fputs(
        "usage: imageinit-compose [options] INPUT OUTPUT\n"
        "       imageinit-compose gc [--cache DIR] [--keep DIGEST]... [--keep-slots DIR]...\n"
        "  INPUT   docker://HOST[:PORT]/REPO[:TAG|@DIGEST], oci:DIR[:REF], an OCI image layout\n"
        "          directory (oci-layout, index.json, blobs/) or a plain root directory\n"
        "  OUTPUT  the slot image to write\n"
        "options:\n"
        "  --format erofs|squashfs  image type (default erofs, lz4hc)\n"
        "  --compress ALG           compressor passed to mkfs (erofs: lz4hc|lz4, squashfs: gzip|"
        "zstd|...)\n"
        "  --verity                 also write OUTPUT.verity and OUTPUT.roothash\n"
        "  --sign KEY --cert CERT   also write OUTPUT.roothash.p7s, the root hash signed with KEY\n"
        "                           (PEM files; implies --verity)\n"
        "  --cache DIR              layer cache (default /var/cache/imageinit-compose)\n"
        "  --ref NAME               the manifest in index.json with this ref name\n"
        "  --uuid UUID              filesystem UUID (default: derived from the manifest digest)\n"
        "  --check-with PATH        the imageinit binary that lints the image\n"
        "  --no-check               skip the lint by 'imageinit check'\n"
        "  --keep-staging           keep the composed tree (shares inodes with the cache!)\n"
        "  --max-unpacked-size SIZE bound on what the layers unpacked now may declare (K, M, G,\n"
        "                           T suffixes; default: the cache file system's free space)\n"
        "  --help, --version\n"
        "environment: SOURCE_DATE_EPOCH (default 0) is every timestamp in the image\n",
        to);
    std::fputs(imageinit::compose::registry::kRegistryUsage, to);
}

std::optional<Options> parse_args(int argc, char** argv) {
    enum {
        kFormat = 256,
        kCompress,
        kVerity,
        kCache,
        kRef,
        kUuid,
        kCheckWith,
        kNoCheck,
        kKeep,
        kMaxUnpacked,
        kSign,
        kCert
    };
    static const struct option kLong[] = {
        {"format", required_argument, nullptr, kFormat},
        {"compress", required_argument, nullptr, kCompress},
        {"verity", no_argument, nullptr, kVerity},
        {"cache", required_argument, nullptr, kCache},
        {"ref", required_argument, nullptr, kRef},
        {"uuid", required_argument, nullptr, kUuid},
        {"check-with", required_argument, nullptr, kCheckWith},
        {"no-check", no_argument, nullptr, kNoCheck},
        {"keep-staging", no_argument, nullptr, kKeep},
        {"max-unpacked-size", required_argument, nullptr, kMaxUnpacked},
        {"sign", required_argument, nullptr, kSign},
        {"cert", required_argument, nullptr, kCert},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    Options o;
    if (!imageinit::compose::registry::take_registry_options(argc, argv, o)) return std::nullopt;
    for (int c; (c = getopt_long(argc, argv, "h", kLong, nullptr)) != -1;) {
        switch (c) {
            case kFormat:
                if (std::string_view(optarg) == "erofs") {
                    o.mkfs.format = imageinit::compose::ImageFormat::kErofs;
                } else if (std::string_view(optarg) == "squashfs") {
                    o.mkfs.format = imageinit::compose::ImageFormat::kSquashfs;
                } else {
                    std::fprintf(stderr, "imageinit-compose: unknown format '%s'\n", optarg);
                    return std::nullopt;
                }
                break;
            case kCompress:
                o.mkfs.compression = optarg;
                break;
            case kVerity:
                o.verity = true;
                break;
            case kSign:
                o.sign_key = optarg;
                o.verity = true;
                break;
            case kCert:
                o.sign_cert = optarg;
                break;
            case kCache:
                o.cache_dir = optarg;
                break;
            case kRef:
                o.ref = optarg;
                break;
            case kUuid:
                o.mkfs.uuid = optarg;
                break;
            case kCheckWith:
                o.check_with = optarg;
                break;
            case kNoCheck:
                o.check = false;
                break;
            case kKeep:
                o.keep_staging = true;
                break;
            case kMaxUnpacked:
                o.max_unpacked_size = imageinit::compose::parse_size(optarg);
                if (!o.max_unpacked_size) {
                    std::fprintf(stderr,
                                 "imageinit-compose: --max-unpacked-size '%s' is not a size "
                                 "(e.g. 512M, 4G)\n",
                                 optarg);
                    return std::nullopt;
                }
                break;
            case 'h':
                usage(stdout);
                std::exit(0);
            case 'V':
                // meson's project version (src/compose/meson.build).
                std::puts("imageinit-compose " IMAGEINIT_VERSION);
                std::exit(0);
            default:
                usage(stderr);
                return std::nullopt;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return std::nullopt;
    }
    o.input = argv[optind];
    o.output = argv[optind + 1];
    if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) {
        char* end = nullptr;
        long long v = std::strtoll(sde, &end, 10);
        if (*end != '\0' || v < 0) {
            std::fprintf(stderr, "imageinit-compose: SOURCE_DATE_EPOCH '%s' is not a number\n",
                         sde);
            return std::nullopt;
        }
        o.mkfs.epoch = v;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "gc")
        return imageinit::compose::registry::run_gc(argc - 1, argv + 1);
    std::optional<Options> opts = parse_args(argc, argv);
    if (!opts) return 2;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    opts->self_exe = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
    auto r = imageinit::compose::compose(*opts);
    if (!r) {
        std::fprintf(stderr, "imageinit-compose: %s\n", r.error().message.c_str());
        return 1;
    }
    return 0;
}
