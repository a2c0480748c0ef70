// A minimal JSON writer for the boot report and `status --json`. Output only: imageinit never
// parses JSON. Strings are escaped so that any byte sequence (even non-UTF-8) stays valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imageinit::core {

class JsonWriter {
  public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view k);
    JsonWriter& value(std::string_view v);
    JsonWriter& value(const char* v) { return value(std::string_view(v)); }
    JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
    JsonWriter& value(int64_t v);
    JsonWriter& value(uint64_t v);
    JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
    JsonWriter& value(unsigned v) { return value(static_cast<uint64_t>(v)); }
    JsonWriter& value(bool v);
    JsonWriter& null();

    const std::string& str() const { return out_; }

  private:
    void before_value();
    std::string out_;
    std::vector<bool> first_;  // per open container: no element written yet
    bool after_key_ = false;
};

// Escapes a string for JSON: quotes, backslash, control characters; bytes >= 0x80 that are not
// valid UTF-8 become \u00XX so the document stays valid.
std::string json_quote(std::string_view s);

}  // namespace imageinit::core
