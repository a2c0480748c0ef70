// `imageinit bootstrap --disk DEVICE SOURCE ...` (contract §12): from a blank disk to a device
// that boots slot a. The order is what makes it crash-safe: partitions and filesystems, then
// STATE (slots, record), then the ESP's kernel and menu, and the loader last, each flushed; until
// the loader is there the firmware does not boot the disk, and a rerun resumes
// (docs/device-boot.md).
#include "cli/bootstrap.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include "base/log.h"
#include "cli/options.h"
#include "cli/print.h"
#include "core/persist_reset.h"
#include "os/fdisk.h"
#include "os/files.h"
#include "os/persist_format.h"
#include "os/process.h"

namespace imageinit::cli {
namespace {

constexpr const char* kUsage =
    "usage: imageinit bootstrap --disk DEVICE SOURCE [--wipe] [--dry-run]\n"
    "  SOURCE: an image file, an OCI layout directory, oci:DIR[:REF] or docker://...\n"
    "         [--persist-size SIZE] [--encrypt-persist[=keyfile|tpm2]] [--recovery SOURCE2]\n"
    "         [--bootloader systemd-boot|grub] [--cmdline 'ARGS']\n";

int usage(const std::string& message) {
    log::error("bootstrap: " + message);
    err(kUsage);
    return 2;
}

Result<BootstrapOptions> parse(const std::vector<std::string>& args) {
    BootstrapOptions o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> Result<std::string> {
            if (i + 1 >= args.size()) return fail(a + " needs a value");
            return args[++i];
        };
        if (a == "--disk") {
            o.disk = TRY(value());
        } else if (a == "--wipe") {
            o.wipe = true;
        } else if (a == "--dry-run") {
            o.dry_run = true;
        } else if (a.starts_with("--encrypt-persist")) {
            std::string rest = a.substr(std::string_view("--encrypt-persist").size());
            if (!rest.empty() && rest[0] != '=') return fail("unknown argument '" + a + "'");
            o.encryption = TRY(core::parse_encrypt_persist(rest));
        } else if (a == "--persist-size") {
            o.persist_size = TRY_CTX(core::parse_size(TRY(value())), "--persist-size");
        } else if (a == "--recovery") {
            o.recovery = TRY(value());
        } else if (a == "--cmdline") {
            o.cmdline = TRY(value());
        } else if (a == "--bootloader") {
            std::string b = TRY(value());
            if (b == "systemd-boot")
                o.bootloader = core::Bootloader::kSystemdBoot;
            else if (b == "grub")
                o.bootloader = core::Bootloader::kGrub;
            else
                return fail("--bootloader is systemd-boot or grub, not '" + b + "'");
        } else if (o.source.empty() && !a.starts_with("--")) {
            o.source = a;
        } else {
            return fail("unknown argument '" + a + "'");
        }
    }
    if (o.disk.empty()) return fail("--disk DEVICE is required");
    if (o.source.empty()) return fail("SOURCE (the image) is required");
    return o;
}

// Progress on the console: "[n/N] what", N depending on the options.
struct Progress {
    int total;
    int n = 0;
    void operator()(const std::string& what) {
        err("imageinit: bootstrap [", ++n, "/", total, "] ", what, "\n");
    }
};

std::string seconds_since(std::chrono::steady_clock::time_point t0) {
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100) + " s";
}

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
}

std::string describe_persist_key(const core::PersistKeyPlan& p) {
    if (!p.luks) return "ext4, not encrypted";
    if (p.key_file) return "LUKS2, a new random key in STATE/imageinit/persist.key";
    return "LUKS2, a new random key sealed to the TPM2 for the image(s) of slot " +
           joined(p.sealed_slots) + " (verity), a recovery key printed once, no key on the disk";
}

// Key material in a std::string, wiped when the scope ends.
struct WipeOnExit {
    std::string& s;
    ~WipeOnExit() { ::explicit_bzero(s.data(), s.size()); }
};

uint64_t file_size(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Lints an image as install does: a broken image must not become a device's only slot.
Result<void> check_source(const std::string& image) {
    struct stat st;
    if (::stat(image.c_str(), &st) < 0) return fail_errno("stat", image);
    if (!S_ISREG(st.st_mode))
        return fail(EINVAL,
                    "'" + image + "' is not an image file (build one with " + "imageinit-compose)");
    auto root = TRY(open_image_root(image));
    CheckResult checked = check_image(root, "/sbin/init");
    for (const auto& w : checked.warnings) log::warning(image + ": " + w);
    if (!checked.errors.empty())
        return fail(EINVAL, "'" + image + "' failed the check: " + checked.errors.front());
    return ok();
}

// An image file as is; an OCI layout directory, oci:DIR[:REF] or docker://... composed first
// with imageinit-compose into WORK (its layer cache there too), as upgrade does.
Result<std::string> resolve_source(const std::string& source, const std::string& work,
                                   const std::string& name) {
    struct stat st;
    bool dir = ::stat(source.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (!dir && !source.starts_with("oci:") && !source.starts_with("docker://")) return source;
    std::string out = work + "/" + name + ".img";
    std::vector<std::string> argv = {find_compose(), "--cache", work + "/compose-cache", source,
                                     out};
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    err("imageinit: bootstrap: composing '", source, "'\n");
    constexpr auto kLimit = std::chrono::hours(6);
    auto r = TRY(os::run_process(argv, env, kLimit));
    if (r.exit_code != 0)
        return fail(EIO, "composing '" + source + "' failed (" + os::describe(r, kLimit) + ")");
    return out;
}

// A private scratch directory, removed with what is in it on scope exit.
struct WorkDir {
    std::string path;
    ~WorkDir() {
        if (path.empty()) return;
        if (UniqueFd fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY)); fd)
            (void)os::remove_tree_at(fd.get(), "compose-cache", path + "/compose-cache");
        for (const char* f : {"a.img", "recovery.img"}) ::unlink((path + "/" + f).c_str());
        for (const char* f : {"vmlinuz", "initrd.img", "grub.cfg", "BOOTX64.EFI", "esp-0", "esp-1",
                              "esp-2", "esp-3", "esp-4", "esp-5", "esp-6"})
            ::unlink((path + "/" + f).c_str());
        ::rmdir(path.c_str());
    }
};

Result<int> bootstrap(const BootstrapOptions& o) {
    auto t0 = std::chrono::steady_clock::now();
    WorkDir work;
    char tmpl[] = "/tmp/imageinit-bootstrap.XXXXXX";
    if (!::mkdtemp(tmpl)) return fail_errno("mkdtemp", tmpl);
    work.path = tmpl;

    SlotFiles slots = {{"a", TRY(resolve_source(o.source, work.path, "a"))}};
    if (!o.recovery.empty())
        slots.push_back({"recovery", TRY(resolve_source(o.recovery, work.path, "recovery"))});
    for (const auto& [name, file] : slots) TRY(check_source(file));
    const std::string& image = slots.front().second;
    BootFiles boot = TRY(stage_boot_files(image, work.path));

    auto table = TRY(os::read_partition_table(o.disk));
    core::BootstrapSizes sizes;
    sizes.disk = table.size;
    sizes.image = file_size(image);
    sizes.recovery = slots.size() > 1 ? file_size(slots[1].second) : 0;
    sizes.boot_files = boot.bytes;
    sizes.persist = o.persist_size;
    sizes.encryption = o.encryption;
    auto layout = TRY(core::plan_layout(sizes, o.disk));
    auto facts = TRY(probe_disk(o.disk, layout, slots));
    auto action = TRY(core::decide_disk(facts, layout, o.wipe));

    out("bootstrap of '", o.disk, "' (", core::format_size(table.size), ") from '", o.source,
        "': ", core::action_name(action), "\n", core::describe_layout(layout));
    for (const auto& [name, file] : slots)
        out("  slot ", name, ": ", file, " (", core::format_size(file_size(file)), ")\n");
    std::vector<std::string> written;
    for (const auto& [name, file] : slots) written.push_back(name);
    core::PersistKeyPlan key_plan = core::plan_persist_key(o.encryption, written);
    out("  persist: ", describe_persist_key(key_plan), "\n");
    out("  boot: ", o.bootloader == core::Bootloader::kGrub ? "GRUB" : "systemd-boot",
        ", the image's /boot/vmlinuz and /boot/initrd.img\n");
    if (o.dry_run) {
        out("dry run: nothing was written\n");
        return 0;
    }
    if (action == core::DiskAction::kComplete) return 0;
    if (key_plan.seal_to_tpm) TRY(check_tpm());

    Progress step{key_plan.seal_to_tpm ? 6 : 5};
    step("partitioning " + o.disk + " (GPT)");
    TRY_CTX(partition_disk(o.disk, layout), "partitioning");
    // Kept in memory only; on STATE only when the plan says so (key_plan.key_file).
    std::string key;
    if (key_plan.luks) key = TRY(os::random_bytes(core::kPersistKeyBytes));
    WipeOnExit wipe_key{key};
    step("making filesystems");
    TRY_CTX(make_filesystems(o.disk, layout, key), "making filesystems");
    step(std::string("writing slots") + (key_plan.verity ? " with dm-verity sidecars" : "") +
         " and the boot record to STATE");
    auto roothashes = TRY_CTX(
        write_state(o.disk, layout.parts[1], slots, key_plan.verity, key_plan.key_file ? key : ""),
        "writing STATE");
    std::string recovery;
    WipeOnExit wipe_recovery{recovery};
    if (key_plan.seal_to_tpm) {
        step("sealing PERSIST's key to the TPM2 for slot(s) " + joined(key_plan.sealed_slots));
        auto t_seal = std::chrono::steady_clock::now();
        std::map<std::string, std::string> sealed;
        for (const auto& s : key_plan.sealed_slots) sealed[s] = roothashes.at(s);
        recovery = TRY_CTX(seal_persist(o.disk, layout.parts[2], key, sealed), "tpm2");
        err("imageinit: bootstrap: PERSIST sealed to the TPM2 (", seconds_since(t_seal), ")\n");
    }
    step("writing the kernel, initramfs and boot menu, then the loader, to the ESP");
    std::vector<std::string> names = {"a", "b"};
    if (!o.recovery.empty()) names.push_back("recovery");
    auto entries = core::boot_entries(o.cmdline, names);
    TRY_CTX(write_esp(o.disk, layout.parts[0], boot, entries, o.bootloader, work.path),
            "writing the ESP");
    step("flushing");
    TRY(sync_disk(o.disk));
    out("bootstrap: done: '", o.disk, "' boots slot a (", seconds_since(t0), ")\n");
    // Printed only now, when the disk is complete: a key printed before a power cut would be
    // the key of a header that the rerun replaces.
    if (!recovery.empty())
        out("PERSIST recovery key (type it when the TPM cannot unseal; shown once, write it "
            "down):\n\n    ",
            recovery, "\n\n");
    return 0;
}

}  // namespace

int cmd_bootstrap(const std::vector<std::string>& args) {
    auto o = parse(args);
    if (!o) return usage(o.error().message);
    auto r = bootstrap(*o);
    if (!r) {
        log::error("bootstrap: " + r.error().message);
        return 1;
    }
    return *r;
}

}  // namespace imageinit::cli
