// A small JSON reader for OCI index and manifest documents (RFC 8259; numbers keep their text so
// sizes are read exactly, see json_size). Pure: string in, value tree out.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::compose {

struct JsonValue {
    enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
    Kind kind = Kind::kNull;
    bool boolean = false;
    double number = 0;  // approximate: for sizes use json_size()
    std::string text;   // a number's text as written ("10", "1e3", "-1")
    std::string string;
    std::vector<JsonValue> array;
    std::map<std::string, JsonValue> object;

    // Member lookup; nullptr when this is not an object or the key is absent.
    const JsonValue* get(std::string_view key) const;
    // The member's string, or "" when absent or not a string.
    std::string get_string(std::string_view key) const;
    bool is_string() const { return kind == Kind::kString; }
    bool is_array() const { return kind == Kind::kArray; }
    bool is_object() const { return kind == Kind::kObject; }
    bool is_number() const { return kind == Kind::kNumber; }
};

// Parses a whole document; errors say "offset N: what".
Result<JsonValue> parse_json(std::string_view text);

// A size (descriptor "size"): an exact integer in 0..INT64_MAX written as plain digits. "1e3",
// "1.5", "-1" and "1e300" are errors (a double would silently round or overflow).
Result<int64_t> json_size(const JsonValue& v);

}  // namespace imageinit::compose
