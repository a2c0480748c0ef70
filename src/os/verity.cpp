// dm-verity (see verity.h). Table reload for restart_on_corruption uses the device-mapper ioctls
// directly (linux/dm-ioctl.h): libcryptsetup's CRYPT_ACTIVATE_REFRESH does not cover verity
// (cryptsetup-refresh(8): "LUKS1, LUKS2, plain crypt and loop-AES").
#include "os/verity.h"

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/unique_fd.h"
#include "os/cryptsetup_lib.h"

namespace imageinit::os {
namespace {

constexpr uint32_t kBlock = 4096;
constexpr size_t kDmBuffer = 16384;

std::string to_hex(const char* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out += digits[(static_cast<unsigned char>(p[i]) >> 4) & 0xf];
        out += digits[static_cast<unsigned char>(p[i]) & 0xf];
    }
    return out;
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

// Loads the verity superblock from HASH with DATA as the data device.
Result<CryptDevice> load(const std::string& data, const std::string& hash, uint32_t flags) {
    CryptDevice cd = TRY(CryptDevice::open(hash, data));
    struct crypt_params_verity params = {};
    params.flags = flags;
    int r = cd.api().crypt_load(cd.get(), CRYPT_VERITY, &params);
    if (r < 0) return cd.error("load verity superblock from", hash, r);
    return cd;
}

// One device-mapper ioctl on /dev/mapper/control with a buffer big enough for a table line.
struct DmBuffer {
    alignas(8) char data[kDmBuffer] = {};
    dm_ioctl* io() { return reinterpret_cast<dm_ioctl*>(data); }
};

void dm_init(DmBuffer& b, const std::string& name, uint32_t flags) {
    std::memset(b.data, 0, sizeof b.data);
    dm_ioctl* io = b.io();
    io->version[0] = DM_VERSION_MAJOR;
    io->version[1] = 0;
    io->version[2] = 0;
    io->data_size = sizeof b.data;
    io->data_start = sizeof(dm_ioctl);
    io->flags = flags;
    std::strncpy(io->name, name.c_str(), sizeof io->name - 1);
}

Result<void> dm_call(int control, unsigned long request, DmBuffer& b, const char* what,
                     const std::string& name) {
    if (::ioctl(control, request, b.data) < 0) return fail_errno(what, name);
    if (b.io()->flags & DM_BUFFER_FULL_FLAG)
        return fail(ENOBUFS, std::string(what) + " '" + name + "': table too long");
    return ok();
}

}  // namespace

Result<std::string> parse_roothash(const std::string& text) {
    size_t b = text.find_first_not_of(" \t\r\n");
    size_t e = text.find_last_not_of(" \t\r\n");
    std::string hex = b == std::string::npos ? "" : text.substr(b, e - b + 1);
    for (char& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok_hex = hex.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!ok_hex || hex.size() % 2 || hex.size() < 32 || hex.size() > 128)
        return fail(EINVAL,
                    "bad root hash '" + hex.substr(0, 140) + "': want 32 to 128 hex digits");
    return hex;
}

Result<std::string> verity_format(const std::string& data, const std::string& hash) {
    struct stat st;
    if (::stat(data.c_str(), &st) < 0) return fail_errno("stat", data);
    if (st.st_size <= 0 || st.st_size % kBlock)
        return fail(EINVAL, "'" + data + "' is " + std::to_string(st.st_size) +
                                " bytes: dm-verity needs a multiple of 4096");
    UniqueFd out(::open(hash.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!out) return fail_errno("create", hash);
    out.reset();
    CryptDevice cd = TRY(CryptDevice::open(hash));
    struct crypt_params_verity params = {};
    params.hash_name = "sha256";
    params.data_device = data.c_str();
    params.salt_size = 32;  // random salt, as veritysetup's default
    params.hash_type = 1;   // the current on-disk format (dm-verity.rst, <version> 1)
    params.data_block_size = kBlock;
    params.hash_block_size = kBlock;
    params.data_size = static_cast<uint64_t>(st.st_size) / kBlock;
    params.flags = CRYPT_VERITY_CREATE_HASH;
    int r = cd.api().crypt_format(cd.get(), CRYPT_VERITY, nullptr, nullptr, nullptr, nullptr, 0,
                                  &params);
    if (r < 0) return cd.error("write verity hash tree for", data, r);
    char root[128];
    size_t size = sizeof root;
    r = cd.api().crypt_volume_key_get(cd.get(), CRYPT_ANY_SLOT, root, &size, nullptr, 0);
    if (r < 0) return cd.error("read root hash of", hash, r);
    return to_hex(root, size);
}

Result<void> verity_verify(const std::string& data, const std::string& hash,
                           const std::string& roothash_hex) {
    std::string hex = TRY(parse_roothash(roothash_hex));
    CryptDevice cd = TRY(load(data, hash, CRYPT_VERITY_CHECK_HASH));
    std::string root = from_hex(hex);
    int r = cd.api().crypt_activate_by_volume_key(cd.get(), nullptr, root.data(), root.size(), 0);
    // -EPERM: a data or hash block does not match; -EFAULT: the top level does not match the
    // root hash (lib/verity/verity_hash.c in cryptsetup 2.6).
    if (r == -EPERM || r == -EFAULT)
        return fail(EPERM, "'" + data + "' does not match root hash " + hex + " (" +
                               cd.last_message() + ")");
    if (r < 0) return cd.error("verify", data, r);
    return ok();
}

Result<std::string> verity_activate(const std::string& data_device, const std::string& hash_device,
                                    const std::string& roothash_hex, const std::string& name) {
    std::string hex = TRY(parse_roothash(roothash_hex));
    CryptDevice cd = TRY(load(data_device, hash_device, 0));
    std::string root = from_hex(hex);
    int r = cd.api().crypt_activate_by_volume_key(cd.get(), name.c_str(), root.data(), root.size(),
                                                  CRYPT_ACTIVATE_READONLY);
    if (r == -EPERM || r == -EINVAL)
        return cd.error("activate dm-verity '" + name + "' with root hash " + hex + " on",
                        data_device, r);
    if (r < 0) return cd.error("activate dm-verity '" + name + "' on", data_device, r);
    std::string path = "/dev/mapper/" + name;
    // Reading block 0 walks the tree from the root hash down: a wrong root hash fails here.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        int saved = errno;
        (void)dm_remove_deferred(name);
        errno = saved;
        return fail_errno("open", path);
    }
    char block[kBlock];
    if (::pread(fd.get(), block, sizeof block, 0) != static_cast<ssize_t>(sizeof block)) {
        int saved = errno ? errno : EIO;
        fd.reset();
        (void)dm_remove_deferred(name);
        return fail(saved, "root hash mismatch: reading the first block of '" + path +
                               "' failed (" + std::strerror(saved) + "); root hash " + hex);
    }
    return path;
}

Result<void> verity_restart_on_corruption(const std::string& name) {
    UniqueFd control(::open("/dev/mapper/control", O_RDWR | O_CLOEXEC));
    if (!control) return fail_errno("open", "/dev/mapper/control");
    DmBuffer b;
    dm_init(b, name, DM_STATUS_TABLE_FLAG);
    TRY(dm_call(control.get(), DM_TABLE_STATUS, b, "DM_TABLE_STATUS", name));
    if (b.io()->target_count != 1)
        return fail(EINVAL, "'" + name + "' is not a single-target device");
    auto* spec = reinterpret_cast<dm_target_spec*>(b.data + b.io()->data_start);
    if (std::strncmp(spec->target_type, "verity", sizeof spec->target_type) != 0)
        return fail(EINVAL, "'" + name + "' is not a dm-verity device");
    uint64_t start = spec->sector_start, length = spec->length;
    std::string params(reinterpret_cast<char*>(spec + 1));

    // <version> <dev> <hash_dev> <data_bs> <hash_bs> <#blocks> <hash_start> <alg> <digest> <salt>
    // then optionally <#opt_params> <opt>... (Documentation/admin-guide/device-mapper/verity.rst)
    std::vector<std::string> words;
    for (size_t pos = 0; pos < params.size();) {
        size_t end = std::min(params.find(' ', pos), params.size());
        if (end > pos) words.push_back(params.substr(pos, end - pos));
        pos = end + 1;
    }
    if (words.size() < 10) return fail(EINVAL, "unexpected verity table of '" + name + "'");
    std::vector<std::string> opts(words.begin() + std::min<size_t>(words.size(), 11), words.end());
    for (const auto& o : opts)
        if (o == "restart_on_corruption") return ok();
    opts.push_back("restart_on_corruption");
    std::string table;
    for (size_t i = 0; i < 10; ++i) table += words[i] + " ";
    // Positional option arguments (use_fec_from_device DEV ...) are counted words too.
    table += std::to_string(opts.size());
    for (const auto& o : opts) table += " " + o;

    dm_init(b, name, DM_READONLY_FLAG);  // verity refuses a writable table
    b.io()->target_count = 1;
    spec = reinterpret_cast<dm_target_spec*>(b.data + b.io()->data_start);
    spec->sector_start = start;
    spec->length = length;
    std::strncpy(spec->target_type, "verity", sizeof spec->target_type - 1);
    char* p = reinterpret_cast<char*>(spec + 1);
    if (table.size() + 1 > kDmBuffer - (p - b.data)) return fail(ENOBUFS, "verity table too long");
    std::memcpy(p, table.c_str(), table.size() + 1);
    TRY(dm_call(control.get(), DM_TABLE_LOAD, b, "DM_TABLE_LOAD", name));
    // Resume without the suspend flag swaps the loaded table in (the kernel suspends first).
    dm_init(b, name, 0);
    TRY(dm_call(control.get(), DM_DEV_SUSPEND, b, "DM_DEV_SUSPEND (resume)", name));
    return ok();
}

Result<void> dm_remove_deferred(const std::string& name) {
    const CryptsetupApi* api = TRY(cryptsetup());
    int r = api->crypt_deactivate_by_name(nullptr, name.c_str(), CRYPT_DEACTIVATE_DEFERRED);
    if (r < 0) {
        errno = -r;
        return fail_errno("remove dm device", name);
    }
    return ok();
}

}  // namespace imageinit::os
