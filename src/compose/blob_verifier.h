// The one rule for a layer blob's bytes, wherever they come from (a local OCI layout through
// BlobReader, a registry download through registry/blob_fetch): sha256 and size checked while
// streaming, and a blob longer than its descriptor refused at the first extra byte.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "compose/oci_layout.h"
#include "compose/sha256.h"

namespace imageinit::compose {

class BlobVerifier {
  public:
    explicit BlobVerifier(const Descriptor& d);
    // False when libcrypto could not allocate its context.
    bool valid() const { return hash_.valid(); }

    // Takes SIZE more bytes. More than the descriptor's size in all is an error and nothing of
    // this chunk is taken: "layer sha256:…: blob is longer than the descriptor's 10 bytes".
    Result<void> update(const char* data, size_t size);
    // Forgets everything taken (a download that starts over).
    void reset();
    // Size, then digest, of everything taken: "layer sha256:…: blob is 9 bytes, the descriptor
    // says 10" or "layer sha256:…: digest mismatch (blob is sha256:…)". Call once.
    Result<void> finish();

    uint64_t bytes() const { return bytes_; }
    // How many more bytes the descriptor allows.
    uint64_t remaining() const { return expected_ - bytes_; }

  private:
    Unexpected error(const std::string& what) const;

    std::string digest_;
    std::string hex_;
    uint64_t expected_ = 0;
    uint64_t bytes_ = 0;
    Sha256 hash_;
};

}  // namespace imageinit::compose
