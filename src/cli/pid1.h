// PID-1 mode: imageinit as /init of the minimal initramfs. Never returns: it ends in the exec
// of the image's init or in the emergency policy.
#pragma once

namespace imageinit::cli {

[[noreturn]] void pid1_main();

}  // namespace imageinit::cli
