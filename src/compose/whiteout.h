// The OCI whiteout rules (image-spec layer.md, "Whiteouts"), as pure decisions over entry paths:
// what an archive entry means, and in which order a layer's entries are applied.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::compose {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

enum class EntryKind {
    kApply,     // ordinary content: added to (or replaces) what the lower layers have
    kWhiteout,  // deletes `target` from the lower layers
    kOpaque,    // `target` (a directory) hides everything the lower layers have under it
    kIgnore,    // reserved `.wh..wh.*` names (AUFS metadata): not content, not an error
    kReject,    // escapes the root, or is malformed: the layer is refused
};

struct EntryDecision {
    EntryKind kind = EntryKind::kReject;
    std::string path;    // normalized entry path ("a/b"; "" is the root)
    std::string target;  // for kWhiteout and kOpaque: the path affected
    std::string reason;  // for kReject
};

// "./a//b/" -> "a/b", "/" -> "". Fails on ".." components and NUL bytes: an entry path must
// never name anything outside the layer's root.
Result<std::string> normalize_entry_path(std::string_view path);

// What one archive entry means.
EntryDecision classify_entry(std::string_view path);

// A layer's entries in the order the spec requires: whiteouts and opaque markers only act on
// the lower layers, so all of them are applied before any of the layer's own content (the
// entries' order inside the tar is not significant).
struct LayerPlan {
    std::vector<std::string> opaque_dirs;  // clear these (keep the directory itself)
    std::vector<std::string> deletions;    // then remove these, if present
    std::vector<std::string> content;      // then add these, parents first
    std::vector<std::string> ignored;
};

Result<LayerPlan> plan_layer(const std::vector<std::string>& entry_paths);

}  // namespace imageinit::compose
