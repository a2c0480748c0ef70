// Unpacked-size accounting and size parsing (see unpack_limit.h); pure, table-tested.
#include "compose/unpack_limit.h"

#include <cstdio>

namespace imageinit::compose {

Result<void> UnpackBudget::charge(uint64_t size, std::string_view layer, std::string_view entry) {
    uint64_t cost = size > UINT64_MAX - kEntryCost ? UINT64_MAX : size + kEntryCost;
    if (cost > limit_ - used_) {
        return fail("layer " + std::string(layer) + ": entry '" + std::string(entry) + "' (" +
                    format_size(size) + ") takes the unpacked size past the limit of " +
                    format_size(limit_) + " (--max-unpacked-size)");
    }
    used_ += cost;
    return ok();
}

std::optional<uint64_t> parse_size(std::string_view text) {
    if (text.empty()) return std::nullopt;
    uint64_t shift = 0;
    switch (text.back()) {
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        case 'T':
            shift = 40;
            break;
        default:
            break;
    }
    if (shift) text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        uint64_t digit = static_cast<uint64_t>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    if (shift && v > (UINT64_MAX >> shift)) return std::nullopt;
    return v << shift;
}

std::string format_size(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return std::to_string(bytes) + " bytes";
    double v = static_cast<double>(bytes) / 1024;
    size_t unit = 0;
    while (v >= 1024 && unit + 1 < std::size(kUnits)) {
        v /= 1024;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
    return buf;
}

uint64_t default_unpack_limit(uint64_t free_bytes) {
    // A floor of a few MiB, not more: on a device the cache sits on PERSIST, which may be small
    // (an upgrade on a 100 MiB partition must still be able to use most of it).
    uint64_t reserve = free_bytes / 20;
    if (reserve < (4ull << 20)) reserve = 4ull << 20;
    return free_bytes > reserve ? free_bytes - reserve : 0;
}

}  // namespace imageinit::compose
