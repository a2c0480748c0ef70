// Helpers shared by the command implementations: the record on the state partition and the
// running slot.
#pragma once

#include <string>

#include "base/result.h"
#include "boot/platform.h"
#include "boot/state_store.h"
#include "cli/commands.h"

namespace imageinit::cli {

struct RecordHandle {
    boot::Dir state;
    boot::LoadedRecord loaded;
};

Result<RecordHandle> open_record(const CommonOptions& o);
Result<void> save_record(RecordHandle& h, const core::BootRecord& record);
Result<std::string> running_slot(const CommonOptions& o);
int report_error(const Error& e);

// mark-good's exit status when a required health check failed and the slot is still trying:
// a reboot counts the try down (the shipped unit reboots after a grace period on it alone).
inline constexpr int kExitUnproven = 3;
// The last health check results kept on the state partition; empty when there are none.
std::string last_health_report(RecordHandle& h);

}  // namespace imageinit::cli

#include <vector>

#include "core/mount_spec.h"

namespace imageinit::cli {

// An image opened for reading. A directory is used as is; a file is loop-mounted read-only in a
// private mount namespace of this process, so nothing becomes visible to the rest of the system.
struct ImageRoot {
    boot::Dir root;
    std::string fstype;            // empty for a directory
    std::vector<boot::Undo> undo;  // rmdir, loop, mount: undone last first

    ImageRoot() = default;
    ImageRoot(ImageRoot&&) = default;
    ImageRoot& operator=(ImageRoot&&) = default;
    ~ImageRoot() {
        root.fd.reset();
        boot::unwind(undo);
    }
};
Result<ImageRoot> open_image_root(const std::string& image);

// Lints an opened image (contract §8 `check`). Returns the spec when it is usable; problems
// go to `errors` (fatal) and `warnings`, one line each, "FILE:LINE: ..." where there is a line.
struct CheckResult {
    core::MountSpec spec;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
};
CheckResult check_image(ImageRoot& image, const std::string& init);

}  // namespace imageinit::cli
