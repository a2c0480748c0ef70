// The header policy a LUKS2 persistent partition must pass before any key is tried, as a pure
// function over the header's JSON metadata (crypt_dump_json), so it is unit-tested with tables.
#pragma once

#include <string_view>

#include "base/result.h"

namespace imageinit::core {

// Refuses a header an attacker could have written to make any key "unlock" a volume they
// control (CVE-2025-59054 and the cipher_null keyslot attacks before it): any cipher_null
// encryption (segment or keyslot area), a data segment that is not plain "crypt" (linear,
// reencryption or opal segments, authenticated encryption), no data segment at all, or a
// header that is not valid JSON of the expected shape. The message names what was refused.
Result<void> check_luks2_policy(std::string_view json);

}  // namespace imageinit::core
