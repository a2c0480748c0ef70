// Recursive-descent JSON parser. Depth is bounded so a hostile manifest cannot exhaust the stack.
#include "compose/json_reader.h"

#include <cstdlib>

namespace imageinit::compose {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
  public:
    explicit Parser(std::string_view text) : s_(text) {}

    Result<JsonValue> document() {
        JsonValue v;
        if (!value(v, 0)) return error();
        skip_ws();
        if (pos_ != s_.size()) return fail_at("trailing characters");
        return v;
    }

  private:
    Unexpected fail_at(const char* what) {
        err_ = "offset " + std::to_string(pos_) + ": " + what;
        return fail(err_);
    }
    Unexpected error() { return fail(err_.empty() ? "json: malformed" : err_); }
    bool set_err(const char* what) {
        err_ = "offset " + std::to_string(pos_) + ": " + what;
        return false;
    }

    void skip_ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t'))
            ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return set_err("unexpected token");
        pos_ += word.size();
        return true;
    }

    bool value(JsonValue& out, int depth) {
        if (depth > kMaxDepth) return set_err("nesting too deep");
        skip_ws();
        if (pos_ >= s_.size()) return set_err("unexpected end");
        char c = s_[pos_];
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            out.kind = JsonValue::Kind::kString;
            return string(out.string);
        }
        if (c == 't' || c == 'f') {
            out.kind = JsonValue::Kind::kBool;
            out.boolean = c == 't';
            return literal(c == 't' ? "true" : "false");
        }
        if (c == 'n') return literal("null");
        return number(out);
    }

    // RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?. The text is
    // kept: sizes are read from it as exact integers (json_size), never through the double.
    bool number(JsonValue& out) {
        size_t start = pos_;
        auto digits = [&] {
            size_t from = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            return pos_ - from;
        };
        if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '0') {
            ++pos_;
        } else if (digits() == 0) {
            return set_err(pos_ == start ? "unexpected character" : "bad number");
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (digits() == 0) return set_err("bad number");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (digits() == 0) return set_err("bad number");
        }
        out.kind = JsonValue::Kind::kNumber;
        out.text = std::string(s_.substr(start, pos_ - start));
        out.number = std::strtod(out.text.c_str(), nullptr);  // ±HUGE_VAL when out of range
        return true;
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    bool hex4(uint32_t& cp) {
        if (pos_ + 4 > s_.size()) return set_err("short \\u escape");
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9')
                cp |= h - '0';
            else if (h >= 'a' && h <= 'f')
                cp |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
                cp |= h - 'A' + 10;
            else
                return set_err("bad \\u escape");
        }
        return true;
    }

    bool string(std::string& out) {
        ++pos_;  // opening quote
        while (pos_ < s_.size()) {
            char c = s_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return set_err("control character in string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) break;
            char e = s_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xd800 && cp < 0xdc00 && s_.substr(pos_, 2) == "\\u") {
                        pos_ += 2;
                        uint32_t lo = 0;
                        if (!hex4(lo)) return false;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    return set_err("bad escape");
            }
        }
        return set_err("unterminated string");
    }

    bool array(JsonValue& out, int depth) {
        out.kind = JsonValue::Kind::kArray;
        ++pos_;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
        for (;;) {
            out.array.emplace_back();
            if (!value(out.array.back(), depth + 1)) return false;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
            return set_err("expected ',' or ']'");
        }
    }

    bool object(JsonValue& out, int depth) {
        out.kind = JsonValue::Kind::kObject;
        ++pos_;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') return set_err("expected member name");
            std::string key;
            if (!string(key)) return false;
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') return set_err("expected ':'");
            ++pos_;
            JsonValue member;
            if (!value(member, depth + 1)) return false;
            out.object[key] = std::move(member);
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
            return set_err("expected ',' or '}'");
        }
    }

    std::string_view s_;
    size_t pos_ = 0;
    std::string err_;
};

}  // namespace

const JsonValue* JsonValue::get(std::string_view key) const {
    if (kind != Kind::kObject) return nullptr;
    auto it = object.find(std::string(key));
    return it == object.end() ? nullptr : &it->second;
}

std::string JsonValue::get_string(std::string_view key) const {
    const JsonValue* v = get(key);
    return v && v->is_string() ? v->string : std::string();
}

Result<JsonValue> parse_json(std::string_view text) { return Parser(text).document(); }

Result<int64_t> json_size(const JsonValue& v) {
    if (!v.is_number()) return fail("is not a number");
    const std::string& t = v.text;
    // The grammar was checked when parsing: only a plain run of digits is an integer here.
    bool digits_only = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
    if (!digits_only) return fail("'" + t + "' is not a non-negative integer");
    if (t.size() > 19 || (t.size() == 19 && t > "9223372036854775807"))
        return fail("'" + t + "' is too large");
    int64_t n = 0;
    for (char c : t) n = n * 10 + (c - '0');
    return n;
}

}  // namespace imageinit::compose
