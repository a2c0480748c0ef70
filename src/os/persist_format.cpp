// LUKS2 format and open with a machine key, mke2fs, getrandom, device flush (see persist_format.h).
#include "os/persist_format.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "base/unique_fd.h"
#include "os/cryptsetup_lib.h"
#include "os/process.h"

namespace imageinit::os {
namespace {

// mkfs of a large partition under TCG takes seconds; an hour means "hung", not "slow".
constexpr auto kMkfsLimit = std::chrono::minutes(60);

const char* find_mke2fs() {
    for (const char* p : {"/usr/sbin/mke2fs", "/sbin/mke2fs"})
        if (::access(p, X_OK) == 0) return p;
    return nullptr;
}

}  // namespace

Result<std::string> random_bytes(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::getrandom(out.data() + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno("getrandom", std::to_string(n) + " bytes");
        got += static_cast<size_t>(r);
    }
    return out;
}

Result<void> luks_format(const std::string& device, const std::string& label,
                         const std::string& uuid, const std::string& key) {
    CryptDevice cd = TRY(CryptDevice::open(device));
    struct crypt_pbkdf_type pbkdf = {};
    pbkdf.type = CRYPT_KDF_PBKDF2;
    pbkdf.hash = "sha256";
    pbkdf.iterations = 1000;
    pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
    struct crypt_params_luks2 params = {};
    params.pbkdf = &pbkdf;
    params.sector_size = 512;
    params.label = label.empty() ? nullptr : label.c_str();
    int r = cd.api().crypt_format(cd.get(), CRYPT_LUKS2, "aes", "xts-plain64",
                                  uuid.empty() ? nullptr : uuid.c_str(), nullptr, 64, &params);
    if (r < 0) return cd.error("crypt_format (LUKS2)", device, r);
    r = cd.api().crypt_set_pbkdf_type(cd.get(), &pbkdf);
    if (r < 0) return cd.error("crypt_set_pbkdf_type", device, r);
    r = cd.api().crypt_keyslot_add_by_volume_key(cd.get(), 0, nullptr, 0, key.data(), key.size());
    if (r < 0) return cd.error("crypt_keyslot_add_by_volume_key", device, r);
    return fsync_device(device);
}

Result<std::string> luks_open_with_key(const std::string& device, const std::string& name,
                                       const std::string& key) {
    CryptDevice cd = TRY(CryptDevice::open(device));
    int r = cd.api().crypt_load(cd.get(), CRYPT_LUKS2, nullptr);
    if (r < 0) return cd.error("crypt_load", device, r);
    r = cd.api().crypt_activate_by_passphrase(cd.get(), name.c_str(), 0, key.data(), key.size(), 0);
    if (r < 0) return cd.error("crypt_activate_by_passphrase", device, r);
    return "/dev/mapper/" + name;
}

Result<void> luks_close(const std::string& name) {
    const CryptsetupApi* api = TRY(cryptsetup());
    int r = api->crypt_deactivate_by_name(nullptr, name.c_str(), 0);
    if (r < 0) {
        errno = -r;
        return fail_errno("crypt_deactivate_by_name", name);
    }
    return ok();
}

Result<void> mkfs_ext4(const std::string& device, const std::string& label,
                       const std::string& uuid) {
    const char* mke2fs = find_mke2fs();
    if (!mke2fs)
        return fail(ENOENT, "no mke2fs in /usr/sbin or /sbin (mkinitrd carries it for resets)");
    // -F: the device may hold anything (a torn earlier attempt); -q: one line on errors only;
    // 4 KiB blocks whatever the size; lazy inode tables keep a large partition fast to make.
    std::vector<std::string> argv = {mke2fs, "-t", "ext4", "-F", "-q", "-b", "4096"};
    if (!label.empty()) argv.insert(argv.end(), {"-L", label});
    if (!uuid.empty()) argv.insert(argv.end(), {"-U", uuid});
    argv.push_back(device);
    ProcessResult r =
        TRY(run_process(argv, {"PATH=/usr/sbin:/sbin:/usr/bin:/bin"},
                        std::chrono::duration_cast<std::chrono::milliseconds>(kMkfsLimit), 4096));
    if (r.exit_code != 0) {
        std::string out = r.output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        if (auto nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
        return fail(EIO, "mke2fs '" + device + "': " + describe(r, kMkfsLimit) +
                             (out.empty() ? "" : ": " + out));
    }
    return fsync_device(device);
}

Result<void> fsync_device(const std::string& device) {
    UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open", device);
    while (::fsync(fd.get()) < 0)
        if (errno != EINTR) return fail_errno("fsync", device);
    return ok();
}

}  // namespace imageinit::os
