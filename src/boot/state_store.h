// Reading and writing the boot-state record on the state partition through boot::RootFs.
// The rule for a missing or corrupt record lives here (and in README "Boot counting"): booting is
// never blocked by it.
#pragma once

#include <string>

#include "boot/seams.h"
#include "core/boot_record.h"

namespace imageinit::boot {

struct LoadedRecord {
    core::BootRecord record;
    std::string warning;      // non-empty when the record was missing or unusable
    bool fresh = false;       // no usable record: defaults are in use
    bool first_boot = false;  // there is no record at all: worth a notice, not a warning
};

// Missing record: first boot, defaults (primary a, a good), no warning beyond a notice.
// Corrupt record: the same defaults and a warning naming what is wrong; the bad file is kept
// as imageinit/state.corrupt for a person to look at, and is replaced by the next write.
LoadedRecord load_record(RootFs& files, const Dir& state_root);

Result<void> store_record(RootFs& files, const Dir& state_root, const core::BootRecord& record);

}  // namespace imageinit::boot
