// Factory reset of the persistent partition (contract §14), the pure part: the request file on
// the state partition (encode/parse) and the decision of what a boot does about it, as a list of
// operations that boot/reset_persist.cpp executes in order (docs/device-boot.md, "Factory reset").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::core {

constexpr std::string_view kResetRequestDir = "imageinit";  // on the state partition
constexpr std::string_view kResetRequestName = "reset-request";
constexpr std::string_view kPersistKeyName = "persist.key";  // imageinit/persist.key, mode 0400
constexpr size_t kResetRequestMaxBytes = 4096;
constexpr size_t kPersistKeyBytes = 64;  // a new key's size (the boot accepts 32..64 read back)

enum class PersistKind { kExt4, kLuks2 };
const char* persist_kind_name(PersistKind kind);  // "ext4", "luks2"

// What the partition was when a boot began to recreate it: it is recreated as exactly that
// (same kind, label and UUID, so LABEL=/UUID= specs still find it) even when a power cut left
// it unrecognisable (a torn LUKS2 header or superblock carries no label any more).
struct ResetTarget {
    PersistKind kind = PersistKind::kExt4;
    std::string device;  // how to find it again: PARTUUID=... when it has one, else /dev/...
    std::string label;   // filesystem or LUKS2 label ("" = none)
    std::string uuid;    // filesystem or LUKS2 UUID ("" = a new one)
    bool operator==(const ResetTarget&) const = default;
};

// The file STATE/imageinit/reset-request. `imageinit reset` writes it without `started`; the
// boot rewrites it with `started` before it destroys anything, and removes it only once the
// new partition is durable.
struct ResetRequest {
    std::optional<ResetTarget> started;
    bool operator==(const ResetRequest&) const = default;
};

std::string encode_reset_request(const ResetRequest& request);
// Errors name the line: "reset-request:3: unknown kind 'xfs'".
Result<ResetRequest> parse_reset_request(std::string_view text);

// The persistent partition as found this boot, before anything unlocked or mounted it.
struct PersistFound {
    std::string device;     // /dev/vda3
    std::string stable_id;  // PARTUUID=... ("" when the partition has none)
    std::string fstype;     // as probed: "ext4", "crypto_LUKS", "" (nothing recognised), ...
    std::string label, uuid;
};

struct ResetInput {
    std::optional<ResetRequest> request;  // the request file, when present and readable
    bool cmdline = false;                 // imageinit.reset=persist
    std::optional<PersistFound> found;    // nullopt: no persistent partition was found
};

// The executor's operations, in the order a decision lists them.
enum class ResetOp {
    kMarkStarted,   // rewrite the request with `started` (atomic): from here a cut repeats it
    kWriteKey,      // LUKS2: a new random key to STATE/imageinit/persist.key (atomic, 0400)
    kLuksFormat,    // LUKS2: a new header with that key (the old key opens nothing any more)
    kMakeFs,        // ext4 on the device (or inside the LUKS2 container), then flushed
    kClearRequest,  // remove the request and fsync its directory
};
const char* reset_op_name(ResetOp op);

struct ResetDecision {
    bool reset = false;
    std::string why;  // "requested by imageinit reset", "imageinit.reset=persist", ...
    ResetTarget target;
    std::vector<ResetOp> ops;
    // A reset was asked for but cannot be done this boot (no partition, unknown content): the
    // request stays, the boot goes on with the partition untouched, the reason is a warning.
    std::string refusal;
};

ResetDecision decide_reset(const ResetInput& input);

}  // namespace imageinit::core
