// `imageinit install IMAGE [--tries N]`: lint the image, write it to the passive slot (never the
// running one, never the only proven one), verify what was written, seed slot-scoped persistent
// directories from the running slot, then make it primary with N tries.
#include <fcntl.h>
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
#include "cli/tpm_enroll.h"
#include "cli/verity_sidecars.h"
#include "core/cmdline.h"
#include "core/mount_plan.h"
#include "core/slot_select.h"
#include "sys/files.h"
#include "sys/log.h"
#include "sys/mount.h"
#include "sys/resolve.h"
#include "sys/safe_open.h"

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

// Copies src to NAME in DIR_FD (created anew; DST names it in messages), fsyncs, then reads it
// back from the disk and compares.
Result<void> copy_and_verify(const std::string& src, int dir_fd, const std::string& name,
                             const std::string& dst) {
    sys::UniqueFd in = TRY(sys::open_checked(AT_FDCWD, src, sys::Scope::kHost, sys::Want::kFile));
    struct stat st;
    if (::fstat(in.get(), &st) < 0) return fail_errno("fstat", src);
    uint64_t total = static_cast<uint64_t>(st.st_size);
    // Whatever was left at NAME (an older attempt, a planted symlink or fifo) goes; O_EXCL and
    // O_NOFOLLOW then make sure the image is written into a new file right here.
    if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT)
        return fail_errno("unlink", dst);
    sys::UniqueFd out(::openat(dir_fd, name.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
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
    sys::UniqueFd check(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
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

// Slot-scoped persistent directories (x-imageinit.scope=slot) of the new image start as a copy
// of the running slot's, so the new slot boots with today's configuration and a rollback later
// returns to exactly what the proven slot had.
Result<int> seed_slot_scope(const core::MountSpec& spec, const CommonOptions& o,
                            const std::string& running, const std::string& target) {
    boot::RealPlatform p(nullptr, nullptr);
    auto persist = p.open_dir(o.persist_dir);
    if (!persist) return 0;  // no persistent partition (degraded boot): nothing to carry over
    const int root = persist->fd.get();
    int seeded = 0;
    // Every path is resolved from the partition's root fd without following a symlink: a
    // planted `slots/b` -> elsewhere is refused, so nothing outside PERSIST is deleted or copied.
    for (const auto& e : spec.entries) {
        if (e.scope != core::PersistScope::kSlot) continue;
        std::string from = core::persist_dir_for(e, running);
        std::string to = core::persist_dir_for(e, target);
        std::string ctx = "seeding slot " + target + "'s '" + e.target + "' on '" + o.persist_dir +
                          "'";
        auto src = sys::open_checked(root, from, sys::Scope::kPartition, sys::Want::kDir, O_PATH);
        if (!src && src.error().code == ENOENT) continue;  // the running slot never used it
        if (!src) return Unexpected(with_context(std::move(src).error(), ctx));
        size_t slash = to.rfind('/');
        std::string parent = to.substr(0, slash), leaf = to.substr(slash + 1);
        auto dir = sys::open_checked(root, parent, sys::Scope::kPartition, sys::Want::kDir, O_PATH);
        if (dir) {
            TRY_CTX(sys::remove_tree_at(dir->get(), leaf, o.persist_dir + "/" + to), ctx);
        } else if (dir.error().code != ENOENT) {
            return Unexpected(with_context(std::move(dir).error(), ctx));
        }
        boot::Dir seed{std::move(*src), o.persist_dir + "/" + from};
        TRY_CTX(p.make_persist_dir(*persist, to, &seed), ctx);
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

    // A TPM-sealed PERSIST must be able to enrol the new image, or it would never unlock it.
    auto tpm_sealed = tpm_install_precheck(o, verity);
    if (!tpm_sealed) return report_error(with_context(tpm_sealed.error(), "install"));

    // slots/ is opened from the partition's root fd refusing symlinks, before anything is written,
    // and every later path goes through that fd (/proc/self/fd/N/NAME for the verity tools): a
    // planted `slots` -> elsewhere is refused and no image or sidecar is written or unlinked
    // outside the partition.
    auto slots_fd = sys::open_checked(h->state.fd.get(), "slots", sys::Scope::kPartition,
                                      sys::Want::kDir, O_PATH);
    if (!slots_fd && slots_fd.error().code == ENOENT)
        slots_fd = sys::mkdir_p_beneath(h->state.fd.get(), "slots", 0755);
    if (!slots_fd)
        return report_error(with_context(slots_fd.error(), "install: '" + o.state_dir + "/slots'"));

    // 1. The slot being overwritten is bad from now on, durably: a power cut mid-install must
    //    never leave a record that calls a half-written image good.
    record.slots[*target] = core::SlotState{core::SlotHealth::kBad, 0, "install in progress"};
    if (auto r = save_record(*h, record); !r) return report_error(r.error());

    // 2. Write beside the old image, verify, then rename over it.
    const int slots = slots_fd->get();
    const std::string shown = o.state_dir + "/slots/" + *target + ".img";
    const std::string name = *target + ".img", tmp_name = name + ".new";
    const std::string final_path = sys::fd_path(slots) + "/" + name;
    // The old image's verity sidecars must never meet the new image (the slot is bad already).
    if (auto r = remove_verity_sidecars(final_path); !r) return report_error(r.error());
    if (auto r = remove_slot_source(sys::fd_path(slots), *target); !r) return report_error(r.error());
    err("imageinit: installing '", image, "' into slot ", *target, "\n");
    if (auto r = copy_and_verify(image, slots, tmp_name, shown + ".new"); !r) {
        ::unlinkat(slots, tmp_name.c_str(), 0);
        return report_error(r.error());
    }
    if (::renameat(slots, tmp_name.c_str(), slots, name.c_str()) < 0)
        return report_error(fail_errno("rename", shown).error());
    if (verity) {
        // Contract §6: IMAGE.verity + IMAGE.roothash beside IMAGE are taken (after a check),
        // else a tree is built. The boot then only ever uses the slot through dm-verity.
        auto roothash = write_verity_sidecars(image, final_path);
        if (!roothash) return report_error(roothash.error());
        out("verity: slot ", *target, " root hash ", *roothash, "\n");
        if (cfg.roothash.count(*target))
            log::warning("imageinit.roothash." + *target + " is pinned on the command line and "
                         "wins over the new sidecar: update the command line too");
        // Before the slot becomes primary: a failure leaves it bad, never a slot that boots
        // without its data (docs/integrity.md, "TPM2").
        if (*tpm_sealed) {
            auto enrolled = tpm_enroll_image(o, *roothash);
            if (!enrolled) return report_error(with_context(enrolled.error(), "install"));
            out(*enrolled);
        }
    }
    if (auto r = store_slot_source(sys::fd_path(slots), *target, req.source); !r)
        return report_error(r.error());
    if (sys::UniqueFd dir(::openat(slots, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir)
        ::fsync(dir.get());

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
