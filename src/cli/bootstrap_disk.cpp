// Bootstrap's disk work: probing what is there, the GPT (libfdisk), the filesystems (mkfs.vfat,
// mkfs.ext4, libcryptsetup for an encrypted PERSIST) and the state partition's content. Every
// partition is reached through a loop device at its offset (see attach_part).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cli/bootstrap.h"
#include "cli/install_copy.h"
#include "cli/verity_sidecars.h"
#include "core/boot_record.h"
#include "core/persist_reset.h"
#include "os/atomic_file.h"
#include "os/disk_usage.h"
#include "os/fdisk.h"
#include "os/files.h"
#include "os/mount.h"
#include "os/persist_format.h"
#include "os/process.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

constexpr auto kToolLimit = std::chrono::minutes(10);
constexpr size_t kChunk = 1 << 20;

std::vector<std::string> environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

// A scratch mount of one partition, unmounted (and its directory removed) on scope exit.
class ScratchMount {
  public:
    ScratchMount() = default;
    ScratchMount(const ScratchMount&) = delete;
    ~ScratchMount() {
        if (mounted_) (void)os::umount(dir_, 0);
        if (!dir_.empty()) ::rmdir(dir_.c_str());
    }
    Result<void> mount(const std::string& device, const std::string& fstype, unsigned long flags) {
        char tmpl[] = "/tmp/imageinit-bootstrap-mnt.XXXXXX";
        if (!::mkdtemp(tmpl)) return fail_errno("mkdtemp", tmpl);
        dir_ = tmpl;
        TRY(os::mount(device, dir_, fstype, flags | MS_NODEV | MS_NOSUID, ""));
        mounted_ = true;
        return ok();
    }
    // Unmounts now, reporting the error (a failed unmount may mean unwritten data).
    Result<void> unmount() {
        mounted_ = false;
        return os::umount(dir_, 0);
    }
    const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
    bool mounted_ = false;
};

Result<bool> same_bytes(const std::string& a, const std::string& b) {
    UniqueFd fa(::open(a.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fa) return fail_errno("open", a);
    UniqueFd fb(::open(b.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fb) return errno == ENOENT ? Result<bool>(false) : fail_errno("open", b);
    struct stat sa, sb;
    if (::fstat(fa.get(), &sa) < 0) return fail_errno("fstat", a);
    if (::fstat(fb.get(), &sb) < 0) return fail_errno("fstat", b);
    if (!S_ISREG(sb.st_mode) || sa.st_size != sb.st_size) return false;
    auto ba = std::make_unique<char[]>(kChunk), bb = std::make_unique<char[]>(kChunk);
    for (;;) {
        ssize_t na = ::read(fa.get(), ba.get(), kChunk);
        if (na < 0) return fail_errno("read", a);
        if (na == 0) return true;
        ssize_t got = 0;
        while (got < na) {
            ssize_t nb = ::read(fb.get(), bb.get() + got, static_cast<size_t>(na - got));
            if (nb <= 0) return nb < 0 ? fail_errno("read", b) : Result<bool>(false);
            got += nb;
        }
        if (std::memcmp(ba.get(), bb.get(), static_cast<size_t>(na)) != 0) return false;
    }
}

}  // namespace

Result<std::string> find_tool(const std::string& name) {
    const char* env = std::getenv("PATH");
    std::string path = env && *env ? env : "/usr/sbin:/usr/bin:/sbin:/bin";
    path += ":/usr/sbin:/sbin";
    for (size_t at = 0; at <= path.size();) {
        size_t end = path.find(':', at);
        if (end == std::string::npos) end = path.size();
        std::string candidate = path.substr(at, end - at) + "/" + name;
        if (end > at && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        at = end + 1;
    }
    return fail(ENOENT, "'" + name + "' not found in PATH (bootstrap needs it)");
}

Result<void> run_tool(const std::vector<std::string>& argv,
                      const std::vector<std::string>& extra_env) {
    std::vector<std::string> cmd = argv;
    cmd[0] = TRY(find_tool(argv[0]));
    auto r = TRY(os::run_process(cmd, environment(extra_env), kToolLimit, 4096));
    if (r.exit_code != 0) {
        std::string out = r.output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        if (size_t nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
        std::string line;
        for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
        return fail(EIO, "'" + line + "' failed: " + os::describe(r, kToolLimit) +
                             (out.empty() ? "" : " (" + out + ")"));
    }
    return ok();
}

Result<os::LoopDevice> attach_part(const std::string& disk, const core::PartitionPlan& part,
                                   bool read_only) {
    auto loop = os::attach_loop(disk, read_only, part.start, part.size);
    if (!loop)
        return Unexpected(with_context(std::move(loop).error(),
                                       "partition '" + part.name + "' of '" + disk + "'"));
    return loop;
}

Result<void> sync_disk(const std::string& disk) {
    UniqueFd fd(::open(disk.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open", disk);
    if (::fsync(fd.get()) < 0) return fail_errno("fsync", disk);
    return ok();
}

Result<void> sync_part(const os::LoopDevice& loop, const std::string& disk) {
    if (::fsync(loop.fd.get()) < 0) return fail_errno("fsync", loop.path);
    return sync_disk(disk);
}

Result<core::DiskFacts> probe_disk(const std::string& disk, const core::BootstrapLayout& layout,
                                   const SlotFiles& slots) {
    core::DiskFacts f;
    f.name = disk;
    f.in_use = TRY(os::disk_users(disk));
    auto table = TRY(os::read_partition_table(disk));
    for (const auto& p : table.partitions)
        f.partitions.push_back({p.name, p.type, "", "", p.start, p.size});
    auto ours = core::decide_disk(f, layout, false);
    bool maybe_ours = f.in_use.empty() && !f.partitions.empty() &&
                      (ours || ours.error().message.find("another image") != std::string::npos);
    if (!maybe_ours) return f;
    f.boot_loader_present = TRY(loader_present(disk, layout.parts[0]));
    if (!f.boot_loader_present) return f;
    // A finished disk: are its slots the images asked for? (then a rerun is a no-op)
    auto loop = TRY(attach_part(disk, layout.parts[1], true));
    ScratchMount state;
    if (!state.mount(loop.path, "ext4", MS_RDONLY)) return f;  // no STATE: not finished
    f.slots_match_source = true;
    for (const auto& [name, file] : slots)
        if (!TRY(same_bytes(file, state.dir() + "/slots/" + name + ".img")))
            f.slots_match_source = false;
    return f;
}

Result<void> partition_disk(const std::string& disk, const core::BootstrapLayout& layout) {
    {
        UniqueFd fd(::open(disk.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) return fail_errno("open", disk);
        std::string zeros(core::kMiB, '\0');
        for (const auto& p : layout.parts) {
            if (::lseek(fd.get(), static_cast<off_t>(p.start), SEEK_SET) < 0)
                return fail_errno("lseek", disk);
            TRY(os::write_all(fd.get(), zeros, disk));
        }
        if (::fsync(fd.get()) < 0) return fail_errno("fsync", disk);
    }
    std::vector<os::DiskPartition> parts;
    for (const auto& p : layout.parts) parts.push_back({p.name, p.type_guid, p.start, p.size});
    return os::write_gpt(disk, parts);
}

Result<void> make_filesystems(const std::string& disk, const core::BootstrapLayout& layout,
                              const std::string& format_key) {
    for (const auto& p : layout.parts) {
        auto loop = TRY(attach_part(disk, p));
        if (p.fs == "vfat") {
            TRY(run_tool({"mkfs.vfat", "-n", p.label, loop.path}));
        } else if (p.fs == "ext4") {
            TRY(run_tool({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", "-L", p.label, "-b", "4096",
                          loop.path}));
        } else if (p.fs == "luks2+ext4") {
            // The header a factory reset makes (one implementation): FORMAT_KEY in key slot 0,
            // pbkdf2 with 1000 iterations, as every machine key (docs/integrity.md).
            if (format_key.empty()) return fail(EINVAL, "an encrypted PERSIST needs a key");
            const std::string name = "imageinit-bootstrap-persist";
            TRY(os::luks_format(loop.path, p.label, "", format_key));
            std::string mapped = TRY(os::luks_open_with_key(loop.path, name, format_key));
            auto made = os::mkfs_ext4(mapped, "", "");
            TRY(os::luks_close(name));
            TRY(made);
        } else {
            return fail(EINVAL, "partition '" + p.name + "': no filesystem type '" + p.fs + "'");
        }
        TRY(sync_part(loop, disk));
    }
    return ok();
}

Result<std::map<std::string, std::string>> write_state(const std::string& disk,
                                                       const core::PartitionPlan& part,
                                                       const SlotFiles& slots, bool verity,
                                                       const std::string& persist_key) {
    auto loop = TRY(attach_part(disk, part));
    ScratchMount state;
    TRY(state.mount(loop.path, "ext4", 0));
    const std::string& root = state.dir();
    for (const char* dir : {"/slots", "/imageinit"})
        if (::mkdir((root + dir).c_str(), 0755) < 0 && errno != EEXIST)
            return fail_errno("mkdir", root + dir);
    UniqueFd slots_dir = TRY(os::open_dir(root + "/slots"));
    std::map<std::string, std::string> roothashes;
    for (const auto& [name, file] : slots) {
        TRY(copy_and_verify(file, slots_dir.get(), name + ".img", "STATE/slots/" + name + ".img"));
        // Sidecars the source brings (IMAGE.verity, IMAGE.roothash, a signature) are taken,
        // else a tree is built: what `install --verity` does.
        if (verity)
            roothashes[name] = TRY_CTX(
                write_verity_sidecars(file, root + "/slots/" + name + ".img"), "slot " + name);
    }
    if (::fsync(slots_dir.get()) < 0) return fail_errno("fsync", root + "/slots");
    UniqueFd meta = TRY(os::open_dir(root + "/imageinit"));
    if (!persist_key.empty()) {
        // 0400 from the first byte, as a factory reset writes it (boot/reset_persist_ops.cpp).
        TRY(os::write_file_atomic(meta.get(), std::string(core::kPersistKeyName), persist_key,
                                  os::real_file_ops(), 0400));
    }
    // The record last: slot a good and primary (core::default_record says exactly that).
    core::BootRecord record = core::default_record();
    TRY(os::write_file_atomic(meta.get(), "state", core::encode_record(record)));
    meta.reset();
    slots_dir.reset();
    TRY(state.unmount());
    TRY(sync_part(loop, disk));
    return roothashes;
}

}  // namespace imageinit::cli
