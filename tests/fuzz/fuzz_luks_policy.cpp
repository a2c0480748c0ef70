// Fuzz body: the LUKS2 header policy (json-c in strict mode plus the rules). Never crashes,
// refuses with EINVAL (not JSON) or EPERM (a rule) and a one-line message, decides the same
// way twice, and never accepts anything after the JSON value.
#include <cerrno>
#include <string>
#include <string_view>

#include "core/luks_policy.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {

void fuzz_luks_policy(const uint8_t* data, size_t size) {
    std::string_view json(reinterpret_cast<const char*>(data), size);
    auto r = core::check_luks2_policy(json);
    auto again = core::check_luks2_policy(json);
    FUZZ_CHECK(r.has_value() == again.has_value(), "two answers for one header");
    if (!r) {
        FUZZ_CHECK(r.error().code == EINVAL || r.error().code == EPERM, r.error().message);
        FUZZ_CHECK(!r.error().message.empty(), "empty message");
        FUZZ_CHECK(r.error().message.find('\n') == std::string::npos, r.error().message);
        return;
    }
    // Accepted: there is a crypt segment, and nothing may follow the value.
    FUZZ_CHECK(json.find("crypt") != std::string_view::npos, "accepted without a crypt segment");
    auto trailing = core::check_luks2_policy(std::string(json) + " x");
    FUZZ_CHECK(!trailing && trailing.error().code == EINVAL, "trailing data accepted");
}

}  // namespace imageinit::fuzz
