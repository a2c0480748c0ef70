// `imageinit upgrade SOURCE [--tries N] [--reboot]` (contract §11): compose SOURCE with the layer
// cache on the persistent partition (imageinit-compose, run as a child: PID 1's binary never
// links libcurl), install it into the passive slot through install's own code path, record the
// source and manifest digest, then let gc drop the layers no slot uses.
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "base/log.h"
#include "cli/options.h"
#include "cli/print.h"
#include "core/slot_select.h"
#include "os/files.h"
#include "os/process.h"

extern char** environ;

namespace imageinit::cli {
namespace {

constexpr auto kComposeLimit = std::chrono::hours(6);
constexpr auto kGcLimit = std::chrono::minutes(30);
// Room kept free beyond the estimate: a full state partition would break the record's writes.
constexpr uint64_t kReserveBytes = 16ull << 20;

constexpr const char* kUsage =
    "usage: imageinit upgrade SOURCE [--tries N] [--reboot] [--verity] [--creds USER:PASS]\n"
    "         [--authfile PATH] [--cert-dir DIR] [--tls-verify=false] [--platform OS/ARCH]\n"
    "  SOURCE: docker://HOST[:PORT]/REPO[:TAG|@DIGEST], oci:DIR[:REF] or an OCI layout dir\n";

std::string self_exe() {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    return n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
}

std::vector<std::string> environment() {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    return env;
}

Result<uint64_t> free_bytes(const std::string& path) {
    struct statvfs v;
    if (::statvfs(path.c_str(), &v) != 0) return fail_errno("statvfs", path);
    return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

uint64_t file_size(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Before any work: the new image will be about the running one's size. It is composed on the
// persistent partition (beside the cache) and then copied to the state partition.
Result<void> check_space(const CommonOptions& o, const std::string& running,
                         const std::string& work_dir) {
    uint64_t estimate = file_size(o.state_dir + "/slots/" + running + ".img");
    uint64_t need = estimate + estimate / 10 + kReserveBytes;
    uint64_t state_free = TRY(free_bytes(o.state_dir));
    if (state_free < need)
        return fail(ENOSPC, "upgrade: the state partition has " + mib(state_free) +
                                " free, an image like the running one needs " + mib(need) +
                                "; nothing was changed");
    uint64_t persist_free = TRY(free_bytes(work_dir));
    if (persist_free < need)
        return fail(ENOSPC, "upgrade: the persistent partition has " + mib(persist_free) +
                                " free, composing needs at least " + mib(need) +
                                "; nothing was changed");
    return ok();
}

}  // namespace

// imageinit-compose: $IMAGEINIT_COMPOSE, else beside this binary, else where meson installs it
// (IMAGEINIT_COMPOSE_PATH: bindir, while imageinit is in sbindir), else PATH.
std::string find_compose() {
    if (const char* env = std::getenv("IMAGEINIT_COMPOSE"); env && *env) return env;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::vector<std::string> candidates;
    if (n > 0) {
        std::string dir(self, static_cast<size_t>(n));
        dir.resize(dir.rfind('/') + 1);
        candidates.push_back(dir + "imageinit-compose");
        candidates.push_back(dir + "compose/imageinit-compose");  // the build tree
    }
    candidates.push_back(IMAGEINIT_COMPOSE_PATH);
    for (const std::string& c : candidates)
        if (::access(c.c_str(), X_OK) == 0) return c;
    return "imageinit-compose";
}

int cmd_upgrade(const std::vector<std::string>& args, const CommonOptions& o) {
    InstallRequest req;
    bool reboot = false;
    std::vector<std::string> passthrough;  // registry options, skopeo's names
    std::string source;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value_opt = [&](const char* name) { return a == name && i + 1 < args.size(); };
        if (a == "--reboot") {
            reboot = true;
        } else if (a == "--verity") {
            req.verity = true;
        } else if (value_opt("--tries")) {
            auto tries = parse_tries("upgrade", args[++i]);
            if (!tries) {
                log::error(tries.error().message);
                return 2;
            }
            req.tries = *tries;
        } else if (value_opt("--creds") || value_opt("--authfile") || value_opt("--cert-dir") ||
                   value_opt("--platform") || value_opt("--retry-times") ||
                   value_opt("--limit-rate")) {
            passthrough.push_back(a);
            passthrough.push_back(args[++i]);
        } else if (a.starts_with("--tls-verify=")) {
            passthrough.push_back(a);
        } else if (source.empty() && !a.starts_with("--")) {
            source = a;
        } else {
            std::fputs(kUsage, stderr);
            return 2;
        }
    }
    if (source.empty()) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    // Fail before any download when install would refuse anyway (no passive slot to write).
    auto running = running_slot(o);
    if (!running) return report_error(running.error());
    {
        auto h = open_record(o);
        if (!h) return report_error(h.error());
        auto target = core::install_target(h->loaded.record, *running, {"a", "b"});
        if (!target) return report_error(target.error());
    }
    struct stat st;
    if (::stat(o.persist_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return report_error(fail(ENOENT, "upgrade: the persistent partition is not mounted at '" +
                                             o.persist_dir + "' (the layer cache lives there)")
                                .error());
    std::string work = o.persist_dir + "/imageinit";
    std::string cache = work + "/compose-cache";
    if (auto r = os::open_dir(work); !r && ::mkdir(work.c_str(), 0700) != 0)
        return report_error(fail_errno("mkdir", work).error());
    if (auto r = check_space(o, *running, work); !r) return report_error(r.error());

    // 1. Compose. Until install starts, nothing on the state partition has changed.
    std::string image = work + "/upgrade-" + std::to_string(::getpid()) + ".img";
    std::string digest_file = image + ".digest";
    std::vector<std::string> argv = {find_compose(), "--cache", cache, "--digestfile", digest_file};
    std::string self = self_exe();
    if (!self.empty()) argv.insert(argv.end(), {"--check-with", self});
    argv.insert(argv.end(), passthrough.begin(), passthrough.end());
    argv.insert(argv.end(), {source, image});
    err("imageinit: composing '", source, "' (layer cache ", cache, ")\n");
    auto cleanup = [&] {
        ::unlink(image.c_str());
        ::unlink(digest_file.c_str());
    };
    std::fflush(stdout);
    auto composed = os::run_process(argv, environment(), kComposeLimit);
    if (!composed || composed->exit_code != 0) {
        cleanup();
        std::string why =
            composed ? os::describe(*composed, kComposeLimit) : composed.error().message;
        return report_error(
            fail("upgrade: composing '" + source + "' failed (" + why + "); nothing was changed")
                .error());
    }
    auto digest = os::read_file(digest_file, 256);
    req.source.source = source;
    if (digest) {
        std::string d = *digest;
        while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
        if (core::valid_source_digest(d)) req.source.digest = d;
    }
    // 2. The exact size is known now.
    uint64_t size = file_size(image);
    auto state_free = free_bytes(o.state_dir);
    if (!state_free || *state_free < size + kReserveBytes) {
        cleanup();
        return report_error(fail(ENOSPC, "upgrade: the composed image needs " + mib(size) +
                                             " on the state partition, which has " +
                                             mib(state_free.value_or(0)) +
                                             " free; nothing was changed")
                                .error());
    }
    // 3. Install, through install's own code path.
    req.image = image;
    req.cmdline = read_kernel_cmdline();
    int rc = install_image(req, o);
    cleanup();
    if (rc != 0) return rc;
    out("upgrade: slot holds ", source,
        req.source.digest.empty() ? std::string() : " (" + req.source.digest + ")", "\n");
    // 4. Keep the layers of both slots' manifests, drop the rest. A failed gc costs space only.
    std::vector<std::string> gc = {find_compose(), "gc",           "--cache",
                                   cache,          "--keep-slots", o.state_dir + "/slots"};
    std::fflush(stdout);
    auto collected = os::run_process(gc, environment(), kGcLimit);
    if (!collected || collected->exit_code != 0)
        log::warning("upgrade: the layer cache was not collected (" +
                     (collected ? os::describe(*collected, kGcLimit) : collected.error().message) +
                     ")");
    if (reboot) {
        err("imageinit: rebooting into the new slot\n");
        std::vector<std::string> cmd = {"/sbin/reboot"};
        auto r = os::run_process(cmd, environment(), std::chrono::minutes(5));
        if (!r || r->exit_code != 0) {
            ::sync();
            ::reboot(RB_AUTOBOOT);
            return report_error(fail_errno("reboot", "").error());
        }
    }
    return 0;
}

}  // namespace imageinit::cli
