// Bootstrap's ESP: the image's own kernel and initramfs, the boot menu, and the loader at the
// removable-media path, written with mtools (no vfat driver needed, on a device or an image
// file alike). The loader is written last and renamed into place: before that the disk has no
// boot entry the firmware would start.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/bootstrap.h"
#include "cli/options.h"
#include "os/files.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

// mtools refuses "odd" geometries of a partition on a loop device unless told not to check.
const std::vector<std::string> kMtoolsEnv = {"MTOOLS_SKIP_CHECK=1"};
constexpr const char* kSystemdBootEfi = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
constexpr size_t kChunk = 1 << 20;

Result<uint64_t> copy_out(int root_fd, const std::string& path, const std::string& image,
                          const std::string& to) {
    auto in = os::open_checked(root_fd, path, os::Scope::kImage, os::Want::kFile);
    if (!in && in.error().code == ENOENT)
        return fail(ENOENT, "image '" + image + "' has no /" + path +
                                ": bootstrap boots the image's own kernel and initramfs "
                                "(/boot/vmlinuz, /boot/initrd.img)");
    if (!in) return Unexpected(with_context(std::move(in).error(), "image '" + image + "'"));
    UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) return fail_errno("open", to);
    std::string buf(kChunk, '\0');
    uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(in->get(), buf.data(), kChunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read", image + ":/" + path);
        if (n == 0) break;
        TRY(os::write_all(out.get(), std::string_view(buf.data(), static_cast<size_t>(n)), to));
        total += static_cast<uint64_t>(n);
    }
    if (total == 0) return fail(EINVAL, "image '" + image + "': /" + path + " is empty");
    return total;
}

Result<void> mcopy(const std::string& dev, const std::string& from, const std::string& to) {
    return run_tool({"mcopy", "-o", "-i", dev, from, "::/" + to}, kMtoolsEnv);
}

}  // namespace

Result<BootFiles> stage_boot_files(const std::string& image, const std::string& work) {
    auto root = TRY(open_image_root(image));
    BootFiles f;
    f.kernel = work + "/vmlinuz";
    f.initrd = work + "/initrd.img";
    f.bytes = TRY(copy_out(root.root.fd.get(), "boot/vmlinuz", image, f.kernel));
    f.bytes += TRY(copy_out(root.root.fd.get(), "boot/initrd.img", image, f.initrd));
    return f;
}

Result<bool> loader_present(const std::string& disk, const core::PartitionPlan& esp) {
    auto loop = TRY(attach_part(disk, esp, true));
    // mdir fails on a missing file and on a partition without a FAT: both mean "not bootable".
    auto r = run_tool({"mdir", "-b", "-i", loop.path, std::string("::/") + core::kEspLoader},
                      kMtoolsEnv);
    return static_cast<bool>(r);
}

Result<void> write_esp(const std::string& disk, const core::PartitionPlan& esp,
                       const BootFiles& files, const std::vector<core::BootEntry>& entries,
                       core::Bootloader loader, const std::string& work) {
    std::string efi = work + "/BOOTX64.EFI";
    std::vector<core::EspFile> config;
    if (loader == core::Bootloader::kSystemdBoot) {
        if (::access(kSystemdBootEfi, R_OK) < 0)
            return fail_errno("systemd-boot (systemd-boot-efi package)", kSystemdBootEfi);
        efi = kSystemdBootEfi;
        config = core::systemd_boot_files(entries);
    } else {
        std::string cfg = work + "/grub.cfg";
        TRY(os::write_file(cfg, core::grub_config(entries)));
        TRY(run_tool({"grub-mkstandalone", "-O", "x86_64-efi", "-o", efi,
                      "--modules=part_gpt fat search_fs_file linux serial normal",
                      "boot/grub/grub.cfg=" + cfg}));
    }
    auto loop = TRY(attach_part(disk, esp));
    const std::string& dev = loop.path;
    std::vector<std::string> dirs = {"::/EFI", "::/EFI/BOOT", "::/imageinit"};
    if (loader == core::Bootloader::kSystemdBoot)
        dirs.insert(dirs.end(), {"::/loader", "::/loader/entries"});
    std::vector<std::string> mmd = {"mmd", "-D", "s", "-i", dev};
    mmd.insert(mmd.end(), dirs.begin(), dirs.end());
    TRY(run_tool(mmd, kMtoolsEnv));
    TRY(mcopy(dev, files.kernel, core::kEspKernel));
    TRY(mcopy(dev, files.initrd, core::kEspInitrd));
    int n = 0;
    for (const auto& c : config) {
        std::string staged = work + "/esp-" + std::to_string(n++);
        TRY(os::write_file(staged, c.content));
        TRY(mcopy(dev, staged, c.path));
    }
    TRY(sync_part(loop, disk));
    // Last: the loader, beside its final name and then renamed (one directory entry changes),
    // so a power cut leaves either no loader or a whole one.
    TRY(mcopy(dev, efi, "EFI/BOOT/BOOTX64.NEW"));
    TRY(sync_part(loop, disk));
    TRY(run_tool({"mren", "-i", dev, "::/EFI/BOOT/BOOTX64.NEW", "BOOTX64.EFI"}, kMtoolsEnv));
    return sync_part(loop, disk);
}

}  // namespace imageinit::cli
