// dlopen of libcryptsetup (see cryptsetup_lib.h). The function types come from the installed
// libcryptsetup.h, so a signature change between versions fails the build, not the boot.
#include "os/cryptsetup_lib.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <cstring>
#include <mutex>

namespace imageinit::os {
namespace {

// The soname of libcryptsetup 2.x; its ABI has been stable since 2.0.
constexpr const char* kSoname = "libcryptsetup.so.12";

struct Loaded {
    CryptsetupApi api;
    std::string error;  // empty when loaded
};

Loaded load() {
    Loaded out;
    // libdevmapper reads this at its first call: without udev in the initramfs it must create
    // the /dev/mapper nodes itself rather than wait for a udev cookie that never comes
    // (libdevmapper.h, "DM_DISABLE_UDEV"; shared/QEMU-NOTES.md "In the guest").
    ::setenv("DM_DISABLE_UDEV", "1", 0);
    void* h = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* why = ::dlerror();
        out.error = std::string("this initramfs has no libcryptsetup (dlopen '") + kSoname +
                    "': " + (why ? why : "unknown error") + ")";
        return out;
    }
#define IMAGEINIT_CRYPT_FN(name)                                                           \
    out.api.name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name));                 \
    if (!out.api.name) {                                                                   \
        out.error = std::string("libcryptsetup has no symbol '") + #name + "' (too old?)"; \
        return out;                                                                        \
    }
#include "os/cryptsetup_fns.inc"
#undef IMAGEINIT_CRYPT_FN
    // The handle stays open for the life of the process: the table points into it.
    return out;
}

void keep_error(int level, const char* msg, void* usrptr) {
    if (level != CRYPT_LOG_ERROR || !msg || !usrptr) return;
    std::string& s = *static_cast<std::string*>(usrptr);
    s = msg;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
}

}  // namespace

Result<const CryptsetupApi*> cryptsetup() {
    static std::once_flag once;
    static Loaded loaded;
    std::call_once(once, [] { loaded = load(); });
    if (!loaded.error.empty()) return fail(ENOTSUP, loaded.error);
    return &loaded.api;
}

void CryptDevice::Free::operator()(crypt_device* cd) const {
    if (cd && api) api->crypt_free(cd);
}

Result<CryptDevice> CryptDevice::open(const std::string& device, const std::string& data_device) {
    CryptDevice d;
    d.api_ = TRY(cryptsetup());
    crypt_device* cd = nullptr;
    int r = data_device.empty()
                ? d.api_->crypt_init(&cd, device.c_str())
                : d.api_->crypt_init_data_device(&cd, device.c_str(), data_device.c_str());
    if (r < 0) {
        errno = -r;
        return fail_errno("crypt_init", device);
    }
    d.cd_ = std::unique_ptr<crypt_device, Free>(cd, Free{d.api_});
    d.log_ = std::make_unique<std::string>();
    d.api_->crypt_set_log_callback(cd, keep_error, d.log_.get());
    return d;
}

Unexpected CryptDevice::error(const std::string& call, const std::string& what, int r) const {
    std::string msg = call + " '" + what + "': " + std::strerror(r < 0 ? -r : r);
    if (log_ && !log_->empty()) msg += " (" + *log_ + ")";
    return fail(r < 0 ? -r : r, msg);
}

}  // namespace imageinit::os
