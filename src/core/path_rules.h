// Rules for paths that come from the mount spec or the persistent partition: lexical
// normalisation and the targets we refuse. Pure string functions; the kernel-side walk
// (openat2 RESOLVE_IN_ROOT) lives in os/resolve.h.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace imageinit::core {

constexpr size_t kMaxPath = 4096;      // PATH_MAX
constexpr size_t kMaxComponent = 255;  // NAME_MAX

// Normalises an absolute path: collapses "//" and "/./", drops a trailing "/".
// Refuses: relative paths, any ".." component, empty input, NUL or control characters,
// bytes that are not UTF-8 (paths end up in JSON and on the console), components over NAME_MAX,
// results of PATH_MAX or more (room for the NUL). Errors are one line, without file:line
// (the caller adds it).
Result<std::string> normalize_path(std::string_view path);

// "/" itself, or /proc, /sys, /dev and anything under them: never a mount target.
bool is_refused_target(std::string_view normalized);
// Which refused area a target falls in ("/", "/proc", "/sys" or "/dev"), or "" when allowed.
std::string_view refused_area(std::string_view normalized);

// True when `path` equals `parent` or lies below it (component-wise: "/var2" is not under "/var").
bool is_same_or_under(std::string_view path, std::string_view parent);

// Joins a normalised absolute path below a root directory: ("/sysroot", "/etc") -> "/sysroot/etc".
std::string join_under(std::string_view root, std::string_view normalized);

// A user-controlled string ready for a one-line message: in single quotes, control characters
// and bytes that are not UTF-8 written as \xNN, cut after 200 bytes (then "'...").
std::string quote_text(std::string_view text);

}  // namespace imageinit::core
