// SHA-256 of byte streams and files, for OCI digest verification and content-addressed cache keys.
// Backed by OpenSSL's libcrypto (see sha256.cpp for why).
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "base/c_handle.h"
#include "base/result.h"

namespace imageinit::compose {

// Incremental hasher: update() with each chunk, then hex() once.
class Sha256 {
  public:
    Sha256();
    bool valid() const { return ctx_ != nullptr; }
    void update(const void* data, size_t size);
    // Lower-case hex of the digest; the hasher must not be updated afterwards.
    std::string hex();

  private:
    CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx_;
};

std::string sha256_hex(std::string_view data);

// Hashes a whole file; also returns its size through *size when given.
Result<std::string> sha256_file(const std::string& path, uint64_t* size = nullptr);

}  // namespace imageinit::compose
