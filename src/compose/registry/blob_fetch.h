// Layer blobs from a registry into the layer cache: CACHE/tmp/blob-HEX.partial grows as bytes
// arrive (sha256 and size checked while streaming), and only a verified blob is renamed to
// CACHE/blobs/sha256/HEX. A killed download resumes with Range; several layers at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "compose/blob_verifier.h"
#include "compose/oci_layout.h"
#include "compose/registry/client.h"

namespace imageinit::compose::registry {

// Appends a blob's bytes to a file, each chunk checked by the one BlobVerifier first: more bytes
// than the descriptor says is an error at the first extra byte; finish() checks size and digest.
class VerifiedBlobWriter {
  public:
    // Opens (creating) `partial`; bytes already there (an interrupted download) are hashed
    // first so the digest still covers the whole blob. A partial longer than the blob, or one
    // another process is writing, is handled: the former is truncated, the latter waited for.
    static Result<VerifiedBlobWriter> open(const std::string& partial, const Descriptor& d);
    Result<void> append(const char* data, size_t size);
    // Discards everything (the server ignored our Range and sends the whole blob).
    Result<void> restart();
    // Size and digest; on a mismatch the partial is removed (it must not be resumed).
    Result<void> finish();
    uint64_t bytes() const { return verifier_.bytes(); }

  private:
    VerifiedBlobWriter(std::string path, const Descriptor& d, UniqueFd fd)
        : path_(std::move(path)), desc_(d), fd_(std::move(fd)), verifier_(d) {}
    std::string path_;
    Descriptor desc_;
    UniqueFd fd_;
    BlobVerifier verifier_;
};

struct FetchStats {
    size_t blobs = 0;           // downloaded now
    uint64_t bytes = 0;         // received now (a resumed blob counts only the rest)
    uint64_t resumed_from = 0;  // bytes that were already there from an earlier run
};

// CACHE/blobs/sha256/HEX
std::string cached_blob_path(const std::string& cache_root, const Descriptor& d);

// Downloads every blob of `want` that is not in CACHE/blobs yet, `opts.jobs` at a time, one line
// per layer when it is done (and a live line on a terminal). The first failure stops the rest;
// nothing unverified is ever under CACHE/blobs.
Result<FetchStats> fetch_blobs(Registry& registry, const std::vector<Descriptor>& want,
                               const std::string& cache_root);

}  // namespace imageinit::compose::registry
