// dlopen of tpm2-tss (see tpm2_lib.h). The function types come from the installed headers, so
// a signature change between versions fails the build, not the boot.
#include "os/tpm2_lib.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

namespace imageinit::os {
namespace {

// Sonames of tpm2-tss 3.x/4.x (Debian 12: 3.2.1).
constexpr const char* kEsys = "libtss2-esys.so.0";
constexpr const char* kMu = "libtss2-mu.so.0";

struct Loaded {
    Tpm2Api api;
    std::string error;
};

std::string dl_error(const char* soname) {
    const char* why = ::dlerror();
    return std::string("this initramfs has no tpm2-tss (dlopen '") + soname +
           "': " + (why ? why : "unknown error") + ")";
}

Loaded load() {
    Loaded out;
    // tpm2-tss logs every TPM error to stderr (the console of PID 1); imageinit reports its own
    // one-line errors instead (tpm2-tss docs/logging.md: TSS2_LOG).
    ::setenv("TSS2_LOG", "all+none", 0);
    void* esys = ::dlopen(kEsys, RTLD_NOW | RTLD_LOCAL);
    if (!esys) return out.error = dl_error(kEsys), out;
    void* mu = ::dlopen(kMu, RTLD_NOW | RTLD_LOCAL);
    if (!mu) return out.error = dl_error(kMu), out;
#define IMAGEINIT_TPM_FN(lib, name)                                                   \
    out.api.name = reinterpret_cast<decltype(&::name)>(::dlsym(lib, #name));          \
    if (!out.api.name) {                                                              \
        out.error = std::string("tpm2-tss has no symbol '") + #name + "' (too old?)"; \
        return out;                                                                   \
    }
#include "os/tpm2_fns.inc"
#undef IMAGEINIT_TPM_FN
    return out;  // the handles stay open for the life of the process: the table points into them
}

using TctiInit = TSS2_RC (*)(TSS2_TCTI_CONTEXT*, size_t*, const char*);

}  // namespace

Result<const Tpm2Api*> tpm2_api() {
    static std::once_flag once;
    static Loaded loaded;
    std::call_once(once, [] { loaded = load(); });
    if (!loaded.error.empty()) return fail(ENOTSUP, loaded.error);
    return &loaded.api;
}

Result<TSS2_TCTI_CONTEXT*> tcti_open(const std::string& spec) {
    auto colon = spec.find(':');
    std::string kind = spec.substr(0, colon);
    std::string conf = colon == std::string::npos ? "" : spec.substr(colon + 1);
    std::string soname, symbol;
    if (kind == "device") {
        soname = "libtss2-tcti-device.so.0", symbol = "Tss2_Tcti_Device_Init";
    } else if (kind == "swtpm") {
        soname = "libtss2-tcti-swtpm.so.0", symbol = "Tss2_Tcti_Swtpm_Init";
    } else {
        return fail(EINVAL, "TPM interface '" + spec + "' is neither device:PATH nor swtpm:CONF");
    }
    void* h = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) return fail(ENOTSUP, dl_error(soname.c_str()));
    auto init = reinterpret_cast<TctiInit>(::dlsym(h, symbol.c_str()));
    if (!init) return fail(ENOTSUP, soname + " has no symbol '" + symbol + "'");
    size_t size = 0;
    if (TSS2_RC rc = init(nullptr, &size, conf.c_str()); rc != TSS2_RC_SUCCESS)
        return fail(EIO, symbol + " (size): TPM error 0x" + std::to_string(rc));
    auto* ctx = static_cast<TSS2_TCTI_CONTEXT*>(std::calloc(1, size));
    if (!ctx) return fail(ENOMEM, "out of memory for the TPM interface");
    if (TSS2_RC rc = init(ctx, &size, conf.c_str()); rc != TSS2_RC_SUCCESS) {
        std::free(ctx);
        return fail(ENODEV, "no TPM at '" + spec + "' (" + symbol + " returned " +
                                std::to_string(rc) + ")");
    }
    return ctx;
}

void tcti_free(TSS2_TCTI_CONTEXT* tcti) {
    if (!tcti) return;
    Tss2_Tcti_Finalize(tcti);
    std::free(tcti);
}

}  // namespace imageinit::os
