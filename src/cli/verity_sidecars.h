// dm-verity sidecars of a slot image (IMAGE.verity = hash tree, IMAGE.roothash = hex root hash)
// for `install --verity` and `check`. Both work without device-mapper (docs/integrity.md).
#pragma once

#include <optional>
#include <string>

#include "base/result.h"

namespace imageinit::cli {

// Writes SLOT_IMAGE's sidecars: copies of SOURCE_IMAGE's when it has both (after checking that
// they match SLOT_IMAGE), else a new hash tree. Each file is written beside and renamed into
// place; the result is verified against the image on the disk. Given sidecars bring their
// signature (SOURCE_IMAGE.roothash.p7s) along. Returns the root hash.
Result<std::string> write_verity_sidecars(const std::string& source_image,
                                          const std::string& slot_image);

// Removes SLOT_IMAGE's sidecars (signature included), so a new image never meets the old image's
// tree.
Result<void> remove_verity_sidecars(const std::string& slot_image);

// Checks IMAGE against its sidecars by reading every block (no device-mapper needed). nullopt:
// IMAGE has no sidecars. ROOTHASH (optional) replaces IMAGE.roothash, as a pinned hash does.
Result<std::optional<std::string>> check_verity_sidecars(const std::string& image,
                                                         const std::string& roothash = "");

}  // namespace imageinit::cli
