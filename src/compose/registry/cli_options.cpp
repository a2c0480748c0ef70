// Command-line handling for the registry options and `gc`, kept out of compose/main.cpp so the
// compose options and these can change independently.
#include "compose/registry/cli_options.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "compose/registry/gc.h"

namespace imageinit::compose::registry {
namespace {

bool parse_int(std::string_view v, int lo, int hi, int& out) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size() && out >= lo && out <= hi;
}

bool parse_rate(std::string_view v, long long& out) {
    long long mult = 1;
    if (!v.empty() && (v.back() == 'K' || v.back() == 'k')) mult = 1024;
    if (!v.empty() && (v.back() == 'M' || v.back() == 'm')) mult = 1024 * 1024;
    if (mult != 1) v.remove_suffix(1);
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n <= 0 || n > (1LL << 40) / mult)
        return false;
    out = n * mult;
    return true;
}

bool bad(const char* what, std::string_view value) {
    std::fprintf(stderr, "imageinit-compose: %s '%.*s'\n", what, static_cast<int>(value.size()),
                 value.data());
    return false;
}

}  // namespace

const char* const kRegistryUsage =
    "registry INPUT (docker://HOST[:PORT]/REPO[:TAG|@sha256:...]); options as skopeo's:\n"
    "  --creds USER:PASS        credentials (default: the auth file, else anonymous)\n"
    "  --authfile PATH          auth.json (default $REGISTRY_AUTH_FILE, "
    "$XDG_RUNTIME_DIR/containers/auth.json,\n"
    "                           ~/.config/containers/auth.json, ~/.docker/config.json)\n"
    "  --cert-dir DIR           extra CAs (*.crt) and a client certificate (*.cert, *.key)\n"
    "  --tls-verify=false       do not check the registry's certificate; allow plain http\n"
    "  --platform OS/ARCH[/VAR] the manifest to pick from an index (default: this machine)\n"
    "  --retry-times N          retries per request on 429/5xx/connection errors (default 3)\n"
    "  --jobs N                 layers downloaded at once (default 3)\n"
    "  --limit-rate BYTES       cap each download at BYTES per second (K, M suffixes)\n"
    "  --digestfile PATH        write the manifest digest here (any layered INPUT)\n"
    "INPUT may also be oci:DIR[:REF]. 'imageinit-compose gc --help' collects the cache.\n";

bool take_registry_options(int& argc, char** argv, Options& opts) {
    RegistryOptions& r = opts.registry;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--") {
            for (; i < argc; ++i) rest.push_back(argv[i]);
            break;
        }
        std::string_view name = arg.substr(0, arg.find('='));
        static constexpr std::string_view kValued[] = {
            "--creds",       "--authfile", "--cert-dir",   "--platform",
            "--retry-times", "--jobs",     "--digestfile", "--limit-rate"};
        bool valued = false;
        for (std::string_view v : kValued) valued |= name == v;
        if (name == "--tls-verify") {
            std::string_view v = arg.size() > name.size() ? arg.substr(name.size() + 1) : "true";
            if (v != "true" && v != "false") return bad("--tls-verify needs true or false, not", v);
            r.tls_verify = v == "true";
            continue;
        }
        if (!valued) {
            rest.push_back(argv[i]);
            continue;
        }
        std::string_view value;
        if (arg.size() > name.size()) {
            value = arg.substr(name.size() + 1);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return bad("missing value for", name);
        }
        if (name == "--creds") r.creds = value;
        if (name == "--authfile") r.authfile = value;
        if (name == "--cert-dir") r.cert_dir = value;
        if (name == "--platform") r.platform = value;
        if (name == "--digestfile") opts.digestfile = value;
        if (name == "--retry-times" && !parse_int(value, 0, 100, r.retry_times))
            return bad("--retry-times needs a number from 0 to 100, not", value);
        if (name == "--limit-rate" && !parse_rate(value, r.limit_rate))
            return bad("--limit-rate needs bytes per second (e.g. 500K, 2M), not", value);
        if (name == "--jobs" && !parse_int(value, 1, 16, r.jobs))
            return bad("--jobs needs a number from 1 to 16, not", value);
    }
    argc = static_cast<int>(rest.size());
    for (size_t i = 0; i < rest.size(); ++i) argv[i] = rest[i];
    argv[argc] = nullptr;
    return true;
}

int run_gc(int argc, char** argv) {
    GcOptions g;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if ((arg == "--cache" || arg == "--keep" || arg == "--keep-slots") && i + 1 < argc) {
            std::string value = argv[++i];
            if (arg == "--cache") g.cache_dir = value;
            if (arg == "--keep") g.keep.push_back(value);
            if (arg == "--keep-slots") g.slots_dirs.push_back(value);
        } else if (arg == "--dry-run") {
            g.dry_run = true;
        } else {
            std::fputs(
                arg == "--help" || arg == "-h" ? "" : "imageinit-compose gc: bad arguments\n",
                stderr);
            std::fputs(
                "usage: imageinit-compose gc [--cache DIR] [--keep sha256:DIGEST]... "
                "[--keep-slots DIR]... [--dry-run]\n"
                "  removes cached layers (and blobs, manifests) used by no kept manifest;\n"
                "  --keep-slots DIR keeps the manifests named in DIR/*.img.source (the state\n"
                "  partition's slots/ directory)\n",
                arg == "--help" || arg == "-h" ? stdout : stderr);
            return arg == "--help" || arg == "-h" ? 0 : 2;
        }
    }
    auto r = collect(g);
    if (!r) {
        std::fprintf(stderr, "imageinit-compose gc: %s\n", r.error().message.c_str());
        return 1;
    }
    for (const std::string& w : r->warnings)
        std::fprintf(stderr, "imageinit-compose gc: warning: %s\n", w.c_str());
    std::printf(
        "gc: kept %zu layers of %zu manifests, removed %zu layers, %zu blobs, %zu "
        "manifests%s\n",
        r->kept_layers, r->kept_manifests, r->removed_layers, r->removed_blobs,
        r->removed_manifests, g.dry_run ? " (dry run: nothing removed)" : "");
    return 0;
}

}  // namespace imageinit::compose::registry
