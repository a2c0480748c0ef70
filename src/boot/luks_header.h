// The LUKS2 header policy (core/luks_policy.h) applied where a header is opened to try a key:
// the boot's unlock (boot/real_integrity.cpp) and `enroll-tpm` (cli/tpm_enroll.cpp).
#pragma once

#include <string>

#include "base/result.h"
#include "os/cryptsetup_lib.h"

namespace imageinit::boot {

// DEVICE's LUKS2 header, loaded and past the header policy. A refused header is EPERM naming the
// device and what was refused ("/dev/vdb: LUKS2 header refused: ...").
Result<os::CryptDevice> load_luks2_checked(const std::string& device);

}  // namespace imageinit::boot
