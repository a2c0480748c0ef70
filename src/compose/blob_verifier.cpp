// Streaming size and digest check of a layer blob (see blob_verifier.h).
#include "compose/blob_verifier.h"

namespace imageinit::compose {

BlobVerifier::BlobVerifier(const Descriptor& d)
    : digest_(d.digest), hex_(d.hex), expected_(d.size < 0 ? 0 : static_cast<uint64_t>(d.size)) {}

Unexpected BlobVerifier::error(const std::string& what) const {
    return fail("layer " + digest_ + ": " + what);
}

Result<void> BlobVerifier::update(const char* data, size_t size) {
    if (size > remaining())
        return error("blob is longer than the descriptor's " + std::to_string(expected_) +
                     " bytes");
    hash_.update(data, size);
    bytes_ += size;
    return ok();
}

void BlobVerifier::reset() {
    hash_ = Sha256();
    bytes_ = 0;
}

Result<void> BlobVerifier::finish() {
    if (bytes_ != expected_)
        return error("blob is " + std::to_string(bytes_) + " bytes, the descriptor says " +
                     std::to_string(expected_));
    std::string got = hash_.hex();
    if (got != hex_) return error("digest mismatch (blob is sha256:" + got + ")");
    return ok();
}

}  // namespace imageinit::compose
