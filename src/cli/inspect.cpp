// Build-time and dry-run commands: `check IMAGE` (lint) and `plan --image IMAGE` (the slot
// decision and the mount plan, nothing mounted where anyone else can see it).
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "boot/real_platform.h"
#include "cli/options.h"
#include "cli/print.h"
#include "cli/signing.h"
#include "cli/verity_sidecars.h"
#include "core/boot_policy.h"
#include "core/cmdline.h"
#include "core/kexec_decision.h"
#include "core/mount_plan.h"
#include "core/path_rules.h"
#include "core/slot_select.h"
#include "os/blkid.h"
#include "os/files.h"
#include "os/mount.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

constexpr size_t kMaxSpecBytes = 8 << 20;

std::string real_path(int fd) {
    char buf[4096];
    ssize_t n = ::readlink(os::fd_path(fd).c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

Result<ImageRoot> open_image_root(const std::string& image) {
    boot::RealPlatform p(nullptr, nullptr);
    struct stat st;
    if (::stat(image.c_str(), &st) < 0) return fail_errno("stat", image);
    // probe and loop open the file: a fifo would block them.
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return fail(EINVAL, "'" + image + "' is " + os::file_kind(st.st_mode) +
                                ", not an image file, block device or directory");
    ImageRoot out;
    if (S_ISDIR(st.st_mode)) {
        out.root = TRY(p.files().open_dir(image));
        return out;
    }
    out.fstype = TRY(os::probe_fstype(image));
    if (out.fstype != "squashfs" && out.fstype != "erofs" && out.fstype != "ext4")
        return fail(EINVAL, "'" + image + "' holds '" + out.fstype +
                                "', not a slot image (squashfs, erofs or ext4)");
    if (::unshare(CLONE_NEWNS) < 0)
        return fail_errno("unshare(CLONE_NEWNS) (reading an image file needs root)", image);
    TRY(os::make_private_recursive("/"));
    // The scratch mount point: /run is a tmpfs on every system imageinit booted, while /tmp may
    // be read-only (an image whose spec has no tmpfs there must still install updates). A build
    // host without a writable /run falls back to /tmp.
    char dir[] = "/run/imageinit-image.XXXXXX";
    char tmp_dir[] = "/tmp/imageinit-image.XXXXXX";
    const char* made = ::mkdtemp(dir);
    if (!made && errno != ENOENT && errno != EACCES && errno != EROFS)
        return fail_errno("mkdtemp", dir);
    if (!made && !(made = ::mkdtemp(tmp_dir))) return fail_errno("mkdtemp", tmp_dir);
    std::string mnt = made;
    out.undo.emplace_back([mnt] { ::rmdir(mnt.c_str()); });
    auto loop = TRY(p.mounts().attach_loop(image));
    out.undo.push_back(std::move(loop.undo));
    TRY(os::mount(loop.device, mnt, out.fstype, MS_RDONLY | MS_NODEV | MS_NOSUID, ""));
    out.undo.emplace_back([mnt] { (void)os::umount(mnt, MNT_DETACH); });
    out.root = TRY(p.files().open_dir(mnt));
    return out;
}

CheckResult check_image(ImageRoot& image, const std::string& init) {
    boot::RealRootFs p;
    CheckResult out;
    std::string file(core::kSpecPathInImage);
    auto text = p.read_in_root(image.root, file, kMaxSpecBytes);
    if (!text && text.error().code != ENOENT) {
        out.errors.push_back(file + ": " + text.error().message);
        return out;
    }
    if (!text) {
        out.warnings.push_back(file + " is missing: the default spec applies");
        out.spec = core::default_mount_spec();
    } else {
        auto spec = core::parse_mount_spec(*text, file);
        if (!spec) {
            out.errors.push_back(spec.error().message);
            return out;
        }
        out.spec = std::move(*spec);
    }
    auto plan = core::plan_mounts(out.spec, core::PlanContext{"a", true});
    if (!plan) {
        out.errors.push_back(plan.error().message);
        return out;
    }
    std::string root_path = real_path(image.root.fd.get());
    const auto& mounts = plan->mounts;
    std::vector<long> enclosing = core::enclosing_mounts(mounts);
    for (size_t i = 0; i < mounts.size(); ++i) {
        const auto& m = mounts[i];
        std::string where = out.spec.file + ":" + std::to_string(m.line) + ": ";
        auto& sink = out.spec.is_default ? out.warnings : out.errors;
        auto dir = p.open_in_root(image.root, m.target, true);
        if (!dir) {
            sink.push_back(where + "mount point '" + m.target + "' does not exist in the image (" +
                           dir.error().message + ")");
            continue;
        }
        // The boot's own rule (core::check_landing), so what check accepts is what mounts.
        if (auto landed = core::check_landing(m.target, root_path, real_path(dir->fd.get()));
            !landed)
            out.errors.push_back(where + "mount point " + landed.error().message);
        // A mount point below an earlier tmpfs or persistent bind will not exist at boot.
        if (enclosing[i] >= 0) {
            const auto& parent = mounts[static_cast<size_t>(enclosing[i])];
            if (parent.action == core::MountAction::kTmpfs)
                out.errors.push_back(where + "mount point '" + m.target +
                                     "' is hidden by the tmpfs on '" + parent.target + "'");
            else if (parent.action == core::MountAction::kBind)
                out.warnings.push_back(where + "mount point '" + m.target +
                                       "' lies in the persistent bind on '" + parent.target +
                                       "' and must exist there");
        }
    }
    for (const char* d : {"/dev", "/proc", "/sys", "/run"})
        if (!p.open_in_root(image.root, d, true))
            out.errors.push_back(std::string("the image has no '") + d + "' directory");
    if (auto r = p.check_executable(image.root, init); !r)
        out.errors.push_back("no init in the image: " + r.error().message);
    // Contract §7: the boot reads a slot's own kernel and initramfs (the kernel's header, then
    // kexec_file_load). Anything there but a regular file would fail the slot at boot, so it
    // fails the check, and `install` refuses the image.
    for (std::string_view f : {core::kSlotKernelPath, core::kSlotInitrdPath})
        if (auto head = p.read_head_in_root(image.root, std::string(f), 1);
            !head && head.error().code != ENOENT)
            out.errors.push_back("slot kernel: " + head.error().message);
    return out;
}

int cmd_check(const std::vector<std::string>& args_in, const CommonOptions& o) {
    const char* usage =
        "usage: imageinit check IMAGE [--roothash HEX] [--trust CERT]... [--no-trust]";
    std::vector<std::string> args, certs;
    std::string roothash;
    bool no_trust = false;
    for (size_t i = 0; i < args_in.size(); ++i) {
        if (args_in[i] == "--no-trust")
            no_trust = true;
        else if (args_in[i] == "--roothash" && i + 1 < args_in.size())
            roothash = args_in[++i];
        else if (args_in[i] == "--trust" && i + 1 < args_in.size())
            certs.push_back(args_in[++i]);
        else
            args.push_back(args_in[i]);
    }
    if (args.size() != 1) {
        log::error(usage);
        return 2;
    }
    // Contract §16: what a boot chain trusting these certificates would decide about the image
    // (the running one's, published by PID 1, unless --trust names others). --no-trust: the
    // lint alone (imageinit-compose, whose image is signed later, if at all).
    auto trust = no_trust        ? Result<std::string>(std::string())
                 : certs.empty() ? running_trust(o.run_dir)
                                 : read_trust_files(certs);
    if (!trust) return report_error(trust.error());
    // dm-verity sidecars (IMAGE.verity, IMAGE.roothash) are verified block by block in
    // userspace before the image is mounted: no device-mapper needed.
    auto verity = check_verity_sidecars(args[0], roothash);
    if (!verity) return report_error(verity.error());
    if (*verity) out(args[0], ": verity ok (root hash ", **verity, ")\n");
    bool refused = false;
    if (!trust->empty()) {
        auto signer = check_root_hash_signature(args[0], *verity, *trust);
        if (signer) {
            out(args[0], ": signature ok (root hash signed by '", *signer, "')\n");
        } else {
            err("imageinit: ", args[0], ": would be refused: ", signer.error().message, "\n");
            refused = true;
        }
    }
    auto image = open_image_root(args[0]);
    if (!image) return report_error(image.error());
    CheckResult r = check_image(*image, "/sbin/init");
    for (const auto& w : r.warnings) err("imageinit: warning: ", w, "\n");
    for (const auto& e : r.errors) err("imageinit: ", args[0], ": ", e, "\n");
    if (!r.errors.empty() || refused) return 1;
    out(args[0], ": ok (", image->fstype.empty() ? std::string("directory") : image->fstype, ", ",
        r.spec.entries.size(), " mount entries", r.spec.is_default ? ", default spec" : "", ")\n");
    return 0;
}

int cmd_plan(const std::vector<std::string>& args, const CommonOptions& o) {
    std::string image, cmdline;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--image" && i + 1 < args.size())
            image = args[++i];
        else if (args[i] == "--cmdline" && i + 1 < args.size())
            cmdline = args[++i];
        else {
            log::error("usage: imageinit plan --image IMAGE [--cmdline '...']");
            return 2;
        }
    }
    if (image.empty()) {
        log::error("usage: imageinit plan --image IMAGE [--cmdline '...']");
        return 2;
    }
    core::BootConfig cfg = core::parse_cmdline(cmdline);
    for (const auto& w : cfg.warnings) out("command line: ", w, "\n");

    core::BootRecord record = core::default_record();
    if (auto h = open_record(o); h) {
        record = h->loaded.record;
        if (!h->loaded.warning.empty()) out("record: ", h->loaded.warning, "\n");
    } else {
        out("record: none at '", o.state_dir, "': using the first-boot defaults\n");
    }
    std::vector<std::string> present = {"a", "b", "recovery"};
    core::Choice choice = core::choose_slot({record, present, cfg.forced_slot, {}});
    for (const auto& s : choice.skipped) out("skip: ", s, "\n");
    std::string slot = "a";
    if (choice.attempt) {
        slot = choice.attempt->slot;
        out("slot: ", slot, " (", choice.attempt->why, ")\n");
    } else {
        out("slot: none bootable: the emergency policy would apply\n");
    }

    auto root = open_image_root(image);
    if (!root) return report_error(root.error());
    CheckResult checked = check_image(*root, cfg.init);
    for (const auto& e : checked.errors) out("error: ", e, "\n");
    if (!checked.errors.empty() && checked.spec.entries.empty() && !checked.spec.is_default)
        return 1;
    bool persist = cfg.persist_spec.has_value();
    auto plan = core::plan_mounts(checked.spec, core::PlanContext{slot, persist});
    if (!plan) return report_error(plan.error());
    out("spec: ", checked.spec.is_default ? std::string("(default spec)") : checked.spec.file,
        "\nmounts:\n", core::format_plan(*plan));
    for (const auto& w : plan->warnings) out("warning: ", w, "\n");
    out("init: ", cfg.init, "\n");
    return checked.errors.empty() ? 0 : 1;
}

}  // namespace imageinit::cli
