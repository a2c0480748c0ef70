// A small JSON reader for OCI index and manifest documents (RFC 8259 subset: no number
// precision beyond int64/double). Pure: string in, value tree out.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace imageinit::compose {

struct JsonValue {
    enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
    Kind kind = Kind::kNull;
    bool boolean = false;
    double number = 0;
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

}  // namespace imageinit::compose
