// dlopen of libcrypto (see libcrypto_lib.h). The function types come from the installed OpenSSL
// headers, so a signature change between versions fails the build, not the boot.
#include "os/libcrypto_lib.h"

#include <dlfcn.h>

#include <mutex>

namespace imageinit::os {
namespace {

// OpenSSL 3's soname (Debian 12: libssl3).
constexpr const char* kSoname = "libcrypto.so.3";

struct Loaded {
    LibcryptoApi api;
    std::string error;  // empty when loaded
};

Loaded load() {
    Loaded out;
    void* h = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* why = ::dlerror();
        out.error = std::string("no libcrypto here (dlopen '") + kSoname +
                    "': " + (why ? why : "unknown error") + ")";
        return out;
    }
#define IMAGEINIT_LIBCRYPTO_FN(name)                                                   \
    out.api.name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name));             \
    if (!out.api.name) {                                                               \
        out.error = std::string("libcrypto has no symbol '") + #name + "' (too old?)"; \
        return out;                                                                    \
    }
#include "os/libcrypto_fns.inc"
#undef IMAGEINIT_LIBCRYPTO_FN
    // The handle stays open for the life of the process: the table points into it.
    return out;
}

}  // namespace

std::string LibcryptoApi::take_errors() const {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

Result<const LibcryptoApi*> libcrypto() {
    static std::once_flag once;
    static Loaded loaded;
    std::call_once(once, [] { loaded = load(); });
    if (!loaded.error.empty()) return fail(ENOTSUP, loaded.error);
    return &loaded.api;
}

}  // namespace imageinit::os
