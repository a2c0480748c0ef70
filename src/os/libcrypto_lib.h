// libcrypto (OpenSSL 3), loaded on first use with dlopen, as libcryptsetup is: the imageinit
// binary does not depend on it, so only an initramfs that verifies signatures (mkinitrd --trust,
// which implies --with-dm, where libcryptsetup brings libcrypto anyway) carries it.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <string>

#include "base/result.h"

namespace imageinit::os {

// The libcrypto functions imageinit uses, resolved from libcrypto.so.3.
struct LibcryptoApi {
#define IMAGEINIT_LIBCRYPTO_FN(name) decltype(&::name) name = nullptr;
#include "os/libcrypto_fns.inc"
#undef IMAGEINIT_LIBCRYPTO_FN

    // libcrypto's queued error lines, oldest first, joined with "; " (and the queue emptied);
    // "" when there is none.
    std::string take_errors() const;
};

// Loads the library once (thread-safe) and returns its function table; ENOTSUP "no libcrypto
// here" when it is absent (a check that needs it then fails: signatures fail closed).
Result<const LibcryptoApi*> libcrypto();

}  // namespace imageinit::os
