// Making the slot image with the standard tools, its dm-verity sidecars, and the lint by
// `imageinit check`. Argument lists and output parsing are pure (tested); running is not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "compose/subprocess.h"

namespace imageinit::compose {

enum class ImageFormat { kErofs, kSquashfs };

struct MkfsOptions {
    ImageFormat format = ImageFormat::kErofs;
    std::string compression;  // "" = the format's default (erofs lz4hc, squashfs gzip)
    int64_t epoch = 0;        // every timestamp in the image
    std::string uuid;         // filesystem UUID (erofs); fixed so the bytes are reproducible
};

std::vector<std::string> mkfs_argv(const MkfsOptions& opts, const std::string& source_dir,
                                   const std::string& image);
// `tree_depth` (the staging tree's deepest entry, 0 when unknown) only goes into the hint
// when mkfs dies of a signal.
Result<void> make_image(const MkfsOptions& opts, const std::string& source_dir,
                        const std::string& image, size_t tree_depth = 0);

// Depth from which a crashed mkfs's message names the depth as the likely cause.
inline constexpr size_t kDeepTree = 1000;
// "mkfs.erofs exited with 1: LAST LINE", or "mkfs.erofs killed by signal 11 (Segmentation
// fault): LAST LINE; hint: ..." with a hint per signal.
std::string mkfs_failure(const std::string& tool, const RunOutput& out, size_t tree_depth);

// A UUID (RFC 4122 version 4 layout) made from the first 32 hex digits of a digest.
std::string uuid_from_hex(std::string_view hex);

std::vector<std::string> verity_argv(const std::string& image, const std::string& hash_file,
                                     const std::string& salt_hex, const std::string& uuid);
// The "Root hash:" value of `veritysetup format` output, or "" when absent.
std::string parse_root_hash(std::string_view output);
// Writes HASH_FILE and returns the root hash.
Result<std::string> make_verity(const std::string& image, const std::string& hash_file,
                                const std::string& salt_hex, const std::string& uuid);

// The lint by `imageinit check IMAGE`. Until the check command exists the lint degrades to a
// warning; once a real check answers, its verdict is binding.
enum class CheckOutcome { kPassed, kFailed, kUnavailable };
struct CheckResult {
    CheckOutcome outcome = CheckOutcome::kUnavailable;
    std::string detail;
};
// Decides from the run on the image and, when that passed, from a probe on /dev/null (a real
// check must refuse a non-image: a stub that accepts everything is not a lint).
CheckResult classify_check(int image_exit, std::string_view image_output, int probe_exit);
Result<CheckResult> run_check(const std::string& imageinit, const std::string& image);

// Where `imageinit` is: next to this executable, one directory up in the meson build tree
// (src/imageinit beside src/compose/), else its installed path (sbindir). "" when none exists.
std::string find_imageinit(const std::string& self_exe);

}  // namespace imageinit::compose
