// The bound on what compose unpacks: every entry is charged its declared size (a sparse file at
// its apparent size) before it is written, so a decompression bomb is refused at its header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace imageinit::compose {

// Metadata charged per entry on top of its size, so millions of empty files are bounded too.
inline constexpr uint64_t kEntryCost = 512;

class UnpackBudget {
  public:
    explicit UnpackBudget(uint64_t limit) : limit_(limit) {}
    // Charges one entry; past the limit it fails naming the layer and the entry.
    Result<void> charge(uint64_t size, std::string_view layer, std::string_view entry);
    uint64_t used() const { return used_; }
    uint64_t limit() const { return limit_; }

  private:
    uint64_t limit_;
    uint64_t used_ = 0;
};

// "123", "64K", "100M", "2G", "1T" (powers of 1024); nullopt for anything else or an overflow.
std::optional<uint64_t> parse_size(std::string_view text);
// "1.5 GiB", "100.0 MiB", "512 bytes".
std::string format_size(uint64_t bytes);

// The default limit from the cache file system's free space: what is free, less a reserve of
// 5% (at least 4 MiB) so the output image and the system keep room.
uint64_t default_unpack_limit(uint64_t free_bytes);

}  // namespace imageinit::compose
