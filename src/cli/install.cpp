// `imageinit install IMAGE [--tries N]`: lint the image, write it to the passive slot (never the
// running one, never the only proven one), verify what was written, seed slot-scoped persistent
// directories from the running slot, then make it primary with N tries.
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "boot/real_platform.h"
#include "cli/options.h"
#include "cli/print.h"
#include "cli/slot_sources.h"
#include "cli/verity_sidecars.h"
#include "core/cmdline.h"
#include "core/mount_plan.h"
#include "core/slot_select.h"
#include "sys/files.h"
#include "sys/log.h"

namespace imageinit::cli {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr int kMaxTries = 100;

ssize_t read_full(int fd, char* p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += static_cast<size_t>(r);
    }
    return static_cast<ssize_t>(got);
}

void progress(const char* what, uint64_t done, uint64_t total, int& last) {
    int pct = total ? static_cast<int>(done * 100 / total) : 100;
    if (pct / 10 == last / 10 && pct != 100) return;
    if (pct == last) return;
    last = pct;
    err("imageinit: ", what, " ", pct, "%\n");
}

// Copies src to dst (created), fsyncs, then reads dst back from the disk and compares.
Result<void> copy_and_verify(const std::string& src, const std::string& dst) {
    sys::UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return fail_errno("open", src);
    struct stat st;
    if (::fstat(in.get(), &st) < 0) return fail_errno("fstat", src);
    uint64_t total = static_cast<uint64_t>(st.st_size);
    sys::UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return fail_errno("open", dst);
    auto buf = std::make_unique<char[]>(kChunk);
    auto back = std::make_unique<char[]>(kChunk);
    uint64_t done = 0;
    int last = -1;
    for (;;) {
        ssize_t n = read_full(in.get(), buf.get(), kChunk);
        if (n < 0) return fail_errno("read", src);
        if (n == 0) break;
        TRY(sys::write_all(out.get(), std::string_view(buf.get(), static_cast<size_t>(n)), dst));
        done += static_cast<uint64_t>(n);
        progress("writing", done, total, last);
    }
    if (::fsync(out.get()) < 0) return fail_errno("fsync", dst);
    out.reset();

    // Verify from the medium, not the page cache: drop our cached pages first.
    sys::UniqueFd check(::open(dst.c_str(), O_RDONLY | O_CLOEXEC));
    if (!check) return fail_errno("open", dst);
    (void)::posix_fadvise(check.get(), 0, 0, POSIX_FADV_DONTNEED);
    if (::lseek(in.get(), 0, SEEK_SET) < 0) return fail_errno("lseek", src);
    done = 0;
    last = -1;
    for (;;) {
        ssize_t a = read_full(in.get(), buf.get(), kChunk);
        ssize_t b = read_full(check.get(), back.get(), kChunk);
        if (a < 0) return fail_errno("read", src);
        if (b < 0) return fail_errno("read", dst);
        if (a != b || std::memcmp(buf.get(), back.get(), static_cast<size_t>(a)) != 0)
            return fail(EIO, "verification failed: '" + dst + "' differs from '" + src +
                                 "' at offset " + std::to_string(done));
        if (a == 0) break;
        done += static_cast<uint64_t>(a);
        progress("verifying", done, total, last);
    }
    return ok();
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
    return ::remove(path) < 0 ? -1 : 0;
}

// Slot-scoped persistent directories (x-imageinit.scope=slot) of the new image start as a copy
// of the running slot's, so the new slot boots with today's configuration and a rollback later
// returns to exactly what the proven slot had.
Result<int> seed_slot_scope(const core::MountSpec& spec, const CommonOptions& o,
                            const std::string& running, const std::string& target) {
    boot::RealPlatform p(nullptr, nullptr);
    auto persist = p.open_dir(o.persist_dir);
    if (!persist) return 0;  // no persistent partition (degraded boot): nothing to carry over
    int seeded = 0;
    for (const auto& e : spec.entries) {
        if (e.scope != core::PersistScope::kSlot) continue;
        std::string from = core::persist_dir_for(e, running);
        std::string to = core::persist_dir_for(e, target);
        auto src = p.open_in_root(*persist, "/" + from, true);
        if (!src) continue;  // the running slot never used it
        std::string to_path = o.persist_dir + "/" + to;
        struct stat st;
        if (::lstat(to_path.c_str(), &st) == 0 &&
            ::nftw(to_path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
            return fail_errno("remove", to_path);
        TRY(p.make_persist_dir(*persist, to, &*src));
        ++seeded;
    }
    return seeded;
}

}  // namespace

Result<int> parse_tries(const std::string& command, const std::string& v) {
    int tries = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), tries);
    if (ec != std::errc() || ptr != v.data() + v.size() || tries < 1 || tries > kMaxTries)
        return fail(command + ": --tries needs a number from 1 to 100, not '" + v + "'");
    return tries;
}

int cmd_install(const std::vector<std::string>& args, const CommonOptions& o) {
    InstallRequest req;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--verity") {
            req.verity = true;
        } else if (args[i] == "--tries" && i + 1 < args.size()) {
            auto tries = parse_tries("install", args[++i]);
            if (!tries) {
                log::error(tries.error().message);
                return 2;
            }
            req.tries = *tries;
        } else if (req.image.empty() && !args[i].starts_with("--")) {
            req.image = args[i];
        } else {
            log::error("usage: imageinit install IMAGE [--tries N] [--verity]");
            return 2;
        }
    }
    if (req.image.empty()) {
        log::error("usage: imageinit install IMAGE [--tries N] [--verity]");
        return 2;
    }
    // A plain image file: the slot records where it came from, and no manifest digest.
    char* abs = ::realpath(req.image.c_str(), nullptr);
    req.source.source = abs ? abs : req.image;
    std::free(abs);
    return install_image(req, o);
}

int install_image(const InstallRequest& req, const CommonOptions& o) {
    const std::string& image = req.image;
    const int tries = req.tries;
    const bool verity = req.verity;
    auto running = running_slot(o);
    if (!running) return report_error(running.error());
    auto h = open_record(o);
    if (!h) return report_error(h.error());
    core::BootRecord record = h->loaded.record;
    auto target = core::install_target(record, *running, {"a", "b"});
    if (!target) return report_error(target.error());

    // Lint before touching anything: a broken image must not cost the device its passive slot.
    auto root = open_image_root(image);
    if (!root) return report_error(root.error());
    CheckResult checked = check_image(*root, "/sbin/init");
    for (const auto& w : checked.warnings) log::warning(w);
    if (!checked.errors.empty()) {
        for (const auto& e : checked.errors) log::error(image + ": " + e);
        log::error("install: '" + image + "' failed the check; nothing was written");
        return 1;
    }

    auto cmdline = sys::read_file("/proc/cmdline", 65536);
    core::BootConfig cfg = core::parse_cmdline(cmdline ? *cmdline : std::string());
    if (cfg.slot_specs.count(*target)) {
        log::error("install: slot " + *target + " is a partition (" + cfg.slot_specs[*target] +
                   "); writing partition slots is not supported yet");
        return 1;
    }

    // 1. The slot being overwritten is bad from now on, durably: a power cut mid-install must
    //    never leave a record that calls a half-written image good.
    record.slots[*target] = core::SlotState{core::SlotHealth::kBad, 0, "install in progress"};
    if (auto r = save_record(*h, record); !r) return report_error(r.error());

    // 2. Write beside the old image, verify, then rename over it.
    std::string slots = o.state_dir + "/slots";
    ::mkdir(slots.c_str(), 0755);
    std::string final_path = slots + "/" + *target + ".img";
    std::string tmp_path = final_path + ".new";
    // The old image's verity sidecars must never meet the new image (the slot is bad already).
    if (auto r = remove_verity_sidecars(final_path); !r) return report_error(r.error());
    if (auto r = remove_slot_source(slots, *target); !r) return report_error(r.error());
    err("imageinit: installing '", image, "' into slot ", *target, "\n");
    if (auto r = copy_and_verify(image, tmp_path); !r) {
        ::unlink(tmp_path.c_str());
        return report_error(r.error());
    }
    if (::rename(tmp_path.c_str(), final_path.c_str()) < 0)
        return report_error(fail_errno("rename", final_path).error());
    if (verity) {
        // Contract §6: IMAGE.verity + IMAGE.roothash beside IMAGE are taken (after a check),
        // else a tree is built. The boot then only ever uses the slot through dm-verity.
        auto roothash = write_verity_sidecars(image, final_path);
        if (!roothash) return report_error(roothash.error());
        out("verity: slot ", *target, " root hash ", *roothash, "\n");
        if (cfg.roothash.count(*target))
            log::warning("imageinit.roothash." + *target + " is pinned on the command line and "
                         "wins over the new sidecar: update the command line too");
    }
    if (auto r = store_slot_source(slots, *target, req.source); !r)
        return report_error(r.error());
    if (auto dir = sys::open_dir(slots, O_RDONLY); dir) ::fsync(dir->get());

    // 3. Slot-scoped configuration follows the running slot.
    auto seeded = seed_slot_scope(checked.spec, o, *running, *target);
    if (!seeded) return report_error(seeded.error());

    // 4. Primary, with N tries.
    record = core::mark_installed(record, *target, tries);
    if (auto r = save_record(*h, record); !r) return report_error(r.error());
    out("installed '", image, "' into slot ", *target, " (primary, ", tries,
        " tries); reboot to try it, then run 'imageinit mark-good'\n");
    if (*seeded > 0) out("seeded ", *seeded, " slot-scoped persistent path(s)\n");
    return 0;
}

}  // namespace imageinit::cli
