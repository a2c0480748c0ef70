// A layer blob read as a verified stream: sha256 and size checked while the bytes pass to the
// unpacker, so a blob longer than its descriptor stops at the first extra byte, not at the end.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "compose/blob_verifier.h"
#include "compose/oci_layout.h"

namespace imageinit::compose {

class BlobReader {
  public:
    // Opens DIR/blobs/sha256/HEX without blocking (O_NONBLOCK: a fifo planted as a blob must not
    // hang compose) and refuses anything but a regular file, or one whose size differs from the
    // descriptor's.
    static Result<BlobReader> open(const std::string& layout_dir, const Descriptor& d);
    // Reads an already open fd with no checks on the file itself (tests; pipes).
    BlobReader(UniqueFd fd, const Descriptor& d);

    // Up to `cap` bytes into `buf`; 0 at the end. More bytes than the descriptor's size is an
    // error as soon as the first extra byte is read (it is not passed on).
    Result<size_t> read(char* buf, size_t cap);
    // Reads whatever is left (bounded by the descriptor's size), then checks the size and the
    // digest. Errors name the digest: "layer sha256:…: blob is 9 bytes, the descriptor says 10".
    Result<void> finish();

    uint64_t bytes() const { return verifier_.bytes(); }

  private:
    UniqueFd fd_;
    std::string digest_;
    BlobVerifier verifier_;
};

}  // namespace imageinit::compose
