// The per-slot source sidecars on the state partition (slots/NAME.img.source, format in
// core/slot_source.h): written by install/upgrade, shown by status.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "core/slot_source.h"

namespace imageinit::cli {

// nullopt when the slot has none (installed before sidecars existed) or it is malformed.
std::optional<core::SlotSource> load_slot_source(const std::string& slots_dir,
                                                 const std::string& slot);
// Atomically (new file, fsync, rename, fsync of the directory).
Result<void> store_slot_source(const std::string& slots_dir, const std::string& slot,
                               const core::SlotSource& source);
// A slot being overwritten loses its sidecar first, so it never names the wrong image.
Result<void> remove_slot_source(const std::string& slots_dir, const std::string& slot);

}  // namespace imageinit::cli
