// libcryptsetup, loaded on first use with dlopen: the imageinit binary does not depend on it, so
// an initramfs without device-mapper features stays small (docs/integrity.md, "Why dlopen").
// Verity and LUKS calls fail cleanly with "this initramfs has no libcryptsetup" when it is absent.
#pragma once

#include <libcryptsetup.h>

#include <memory>
#include <string>

#include "base/result.h"

namespace imageinit::os {

// The libcryptsetup functions imageinit uses, resolved from libcryptsetup.so.12 (ABI of 2.x).
struct CryptsetupApi {
#define IMAGEINIT_CRYPT_FN(name) decltype(&::name) name = nullptr;
#include "os/cryptsetup_fns.inc"
#undef IMAGEINIT_CRYPT_FN
};

// Loads the library once (thread-safe) and returns its function table. Before the first call,
// udev synchronisation is switched off (DM_DISABLE_UDEV=1): PID 1 runs without udev, and
// libdevmapper then creates the /dev/mapper nodes itself instead of waiting for udev forever.
Result<const CryptsetupApi*> cryptsetup();

// A crypt_device handle (CHandle-style owner; the deleter calls the loaded crypt_free). Messages
// libcryptsetup logs for it are kept and returned by last_message(), for error texts.
class CryptDevice {
  public:
    // crypt_init(DEVICE) or, with DATA_DEVICE, crypt_init_data_device(DEVICE, DATA_DEVICE).
    static Result<CryptDevice> open(const std::string& device, const std::string& data_device = "");
    crypt_device* get() const { return cd_.get(); }
    const CryptsetupApi& api() const { return *api_; }
    // libcryptsetup's last error line ("" if none), e.g. "Verification of root hash failed."
    std::string last_message() const { return log_ ? *log_ : std::string(); }
    // "CALL 'WHAT': strerror(-r) (libcryptsetup's last message)"
    Unexpected error(const std::string& call, const std::string& what, int r) const;

  private:
    struct Free {
        const CryptsetupApi* api;
        void operator()(crypt_device* cd) const;
    };
    const CryptsetupApi* api_ = nullptr;
    std::unique_ptr<std::string> log_;  // stable address: libcryptsetup keeps a pointer to it
    std::unique_ptr<crypt_device, Free> cd_{nullptr, Free{nullptr}};
};

}  // namespace imageinit::os
