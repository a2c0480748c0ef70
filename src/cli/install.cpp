// `imageinit install IMAGE [--tries N]`: lint the image, write it to the passive slot (never the
// running one, never the only proven one), verify what was written, seed slot-scoped persistent
// directories from the running slot, then make it primary with N tries. Each is a named step,
// logged once, over the record rules of core/slot_select (docs/update-flow.md).
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "base/log.h"
#include "boot/real_platform.h"
#include "cli/install_copy.h"
#include "cli/options.h"
#include "cli/print.h"
#include "cli/signing.h"
#include "cli/slot_sources.h"
#include "cli/tpm_enroll.h"
#include "cli/verity_sidecars.h"
#include "core/mount_plan.h"
#include "core/slot_select.h"
#include "os/files.h"
#include "os/mount.h"
#include "os/resolve.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

constexpr int kMaxTries = 100;

// Slot-scoped persistent directories (x-imageinit.scope=slot) of the new image start as a copy
// of the running slot's, so the new slot boots with today's configuration and a rollback later
// returns to exactly what the proven slot had.
Result<int> seed_slot_scope(const core::MountSpec& spec, const CommonOptions& o,
                            const std::string& running, const std::string& target) {
    boot::RealRootFs p;
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
        std::string ctx =
            "seeding slot " + target + "'s '" + e.target + "' on '" + o.persist_dir + "'";
        auto src = os::open_checked(root, from, os::Scope::kPartition, os::Want::kDir, O_PATH);
        if (!src && src.error().code == ENOENT) continue;  // the running slot never used it
        if (!src) return Unexpected(with_context(std::move(src).error(), ctx));
        size_t slash = to.rfind('/');
        std::string parent = to.substr(0, slash), leaf = to.substr(slash + 1);
        auto dir = os::open_checked(root, parent, os::Scope::kPartition, os::Want::kDir, O_PATH);
        if (dir) {
            TRY_CTX(os::remove_tree_at(dir->get(), leaf, o.persist_dir + "/" + to), ctx);
        } else if (dir.error().code != ENOENT) {
            return Unexpected(with_context(std::move(dir).error(), ctx));
        }
        boot::Dir seed{std::move(*src), o.persist_dir + "/" + from};
        TRY_CTX(p.make_persist_dir(*persist, to, &seed), ctx);
        ++seeded;
    }
    return seeded;
}

// What one install carries from step to step.
struct InstallWork {
    const InstallRequest& req;
    const CommonOptions& o;
    std::optional<RecordHandle> h;
    core::BootRecord record;
    std::string running, target;
    CheckResult checked;
    UniqueFd slots;  // STATE/slots, opened refusing symlinks
    std::string shown, name, final_path;
    std::string roothash;     // the new image's, with --verity
    bool tpm_sealed = false;  // PERSIST's key is sealed to the TPM (docs/integrity.md)
    int seeded = 0;
    bool verity = false;  // write the sidecars: --verity, or a signed image (check-signature)
};

// The slot to write: never the running one, never the only proven one; file slots only.
Result<void> choose_slot(InstallWork& w) {
    w.running = TRY(running_slot(w.o));
    w.h = TRY(open_record(w.o));
    w.record = w.h->loaded.record;
    w.target = TRY(core::install_target(w.record, w.running, {"a", "b"}));
    const auto& specs = w.req.cmdline.boot.slot_specs;
    if (auto spec = specs.find(w.target); spec != specs.end())
        return fail("slot " + w.target + " is a partition (" + spec->second +
                    "); writing partition slots is not supported yet");
    return ok();
}

// Lint before touching anything: a broken image must not cost the device its passive slot.
Result<void> check_image_step(InstallWork& w) {
    ImageRoot root = TRY(open_image_root(w.req.image));
    w.checked = check_image(root, "/sbin/init");
    for (const auto& warning : w.checked.warnings) log::warning(warning);
    if (w.checked.errors.empty()) return ok();
    for (const auto& e : w.checked.errors) log::error(w.req.image + ": " + e);
    return fail("'" + w.req.image + "' failed the check; nothing was written");
}

// Contract §16: what the running boot chain would refuse (its certificates: RUN/trust.pem) is
// refused now, before a byte is written. A signed image brings its own sidecars into the slot.
Result<void> check_signature(InstallWork& w) {
    w.verity = w.req.verity;
    std::string trust = TRY(running_trust(w.o.run_dir));
    if (trust.empty()) return ok();
    auto signer = check_image_signature(w.req.image, trust);
    if (!signer) return fail(signer.error().code, signer.error().message + "; nothing was written");
    out("signature: root hash of '", w.req.image, "' signed by '", *signer, "'\n");
    w.verity = true;
    return ok();
}

// slots/ is opened from the partition's root fd refusing symlinks, before anything is written,
// and every later path goes through that fd (/proc/self/fd/N/NAME for the verity tools): a
// planted `slots` -> elsewhere is refused and no image or sidecar is written or unlinked
// outside the partition.
Result<void> open_slots(InstallWork& w) {
    auto fd = os::open_checked(w.h->state.fd.get(), "slots", os::Scope::kPartition, os::Want::kDir,
                               O_PATH);
    if (!fd && fd.error().code == ENOENT)
        fd = os::mkdir_p_beneath(w.h->state.fd.get(), "slots", 0755);
    if (!fd) return Unexpected(with_context(fd.error(), "'" + w.o.state_dir + "/slots'"));
    w.slots = std::move(*fd);
    w.shown = w.o.state_dir + "/slots/" + w.target + ".img";
    w.name = w.target + ".img";
    w.final_path = os::fd_path(w.slots.get()) + "/" + w.name;
    return ok();
}

// The slot being overwritten is bad from now on, durably: a power cut mid-install must never
// leave a record that calls a half-written image good.
Result<void> mark_installing(InstallWork& w) {
    w.record = core::mark_installing(w.record, w.target);
    return save_record(*w.h, w.record);
}

// Written beside the old image, verified, then renamed over it. The old image's sidecars never
// meet the new image (the slot is bad already).
Result<void> write_image(InstallWork& w) {
    const int slots = w.slots.get();
    const std::string tmp_name = w.name + ".new";
    TRY(remove_verity_sidecars(w.final_path));
    TRY(remove_slot_source(os::fd_path(slots), w.target));
    err("imageinit: installing '", w.req.image, "' into slot ", w.target, "\n");
    if (auto r = copy_and_verify(w.req.image, slots, tmp_name, w.shown + ".new"); !r) {
        ::unlinkat(slots, tmp_name.c_str(), 0);
        return r;
    }
    if (::renameat(slots, tmp_name.c_str(), slots, w.name.c_str()) < 0)
        return fail_errno("rename", w.shown);
    return ok();
}

// Contract §6: IMAGE.verity + IMAGE.roothash beside IMAGE are taken (after a check), else a
// tree is built. The boot then only ever uses the slot through dm-verity.
Result<void> write_verity(InstallWork& w) {
    std::string roothash = TRY(write_verity_sidecars(w.req.image, w.final_path));
    w.roothash = roothash;
    out("verity: slot ", w.target, " root hash ", roothash, "\n");
    if (w.req.cmdline.boot.roothash.count(w.target))
        log::warning("imageinit.roothash." + w.target +
                     " is pinned on the command line and "
                     "wins over the new sidecar: update the command line too");
    return ok();
}

// A TPM-sealed PERSIST must be able to enrol the new image before a byte is written, or the
// new slot would never unlock it.
Result<void> tpm_check(InstallWork& w) {
    w.tpm_sealed = TRY(tpm_install_precheck(w.o, w.req.verity));
    return ok();
}

// Before the slot becomes primary: a failure leaves it bad, never a slot that boots without
// its data.
Result<void> tpm_enroll(InstallWork& w) {
    if (!w.tpm_sealed) return ok();
    out(TRY(tpm_enroll_image(w.o, w.roothash)));
    return ok();
}

Result<void> record_source(InstallWork& w) {
    TRY(store_slot_source(os::fd_path(w.slots.get()), w.target, w.req.source));
    if (UniqueFd dir(::openat(w.slots.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir)
        ::fsync(dir.get());
    return ok();
}

// Slot-scoped configuration follows the running slot.
Result<void> seed(InstallWork& w) {
    w.seeded = TRY(seed_slot_scope(w.checked.spec, w.o, w.running, w.target));
    return ok();
}

// Primary, with N tries.
Result<void> mark_installed(InstallWork& w) {
    w.record = core::mark_installed(w.record, w.target, w.req.tries);
    return save_record(*w.h, w.record);
}

struct InstallStep {
    const char* name;
    Result<void> (*run)(InstallWork&);
    bool only_with_verity = false;  // only when InstallWork::verity
};

const InstallStep kInstallSteps[] = {
    {"choose-slot", choose_slot},
    {"check-image", check_image_step},
    {"check-signature", check_signature},
    {"tpm-check", tpm_check},
    {"open-slots", open_slots},
    {"mark-installing", mark_installing},
    {"write-image", write_image},
    {"verity", write_verity, true},
    {"tpm-enroll", tpm_enroll, true},
    {"record-source", record_source},
    {"seed-slot-scope", seed},
    {"mark-installed", mark_installed},
};

}  // namespace

core::KernelCmdline read_kernel_cmdline() {
    auto text = os::read_file("/proc/cmdline", 65536);
    return core::parse_kernel_cmdline(text ? *text : std::string());
}

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
    req.cmdline = read_kernel_cmdline();
    return install_image(req, o);
}

int install_image(const InstallRequest& req, const CommonOptions& o) {
    InstallWork w{req, o};
    for (const auto& step : kInstallSteps) {
        if (step.only_with_verity && !w.verity) continue;
        auto start = std::chrono::steady_clock::now();
        if (auto r = step.run(w); !r) {
            log::error("install: step " + std::string(step.name) + " failed: " + r.error().message);
            return 1;
        }
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        log::info("install: step " + std::string(step.name) + " done in " +
                  std::to_string(ms.count()) + " ms");
    }
    out("installed '", req.image, "' into slot ", w.target, " (primary, ", req.tries,
        " tries); reboot to try it, then run 'imageinit mark-good'\n");
    if (w.seeded > 0) out("seeded ", w.seeded, " slot-scoped persistent path(s)\n");
    return 0;
}

}  // namespace imageinit::cli
