// load_luks2_checked (see luks_header.h): os::load_luks2, then core::check_luks2_policy.
#include "boot/luks_header.h"

#include "core/luks_policy.h"
#include "os/luks.h"

namespace imageinit::boot {

Result<os::CryptDevice> load_luks2_checked(const std::string& device) {
    os::Luks2Header header = TRY(os::load_luks2(device));
    TRY_CTX(core::check_luks2_policy(header.json), device);
    return std::move(header.cd);
}

}  // namespace imageinit::boot
