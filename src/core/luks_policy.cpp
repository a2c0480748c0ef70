// LUKS2 header policy (see luks_policy.h). A small JSON walk that records every string and
// number leaf with its key path ("segments/0/type"); the policy is a few rules over those paths.
#include "core/luks_policy.h"

#include <string>
#include <utility>
#include <vector>

namespace imageinit::core {
namespace {

struct Leaf {
    std::string path;   // keys joined with '/', array indexes as numbers
    std::string value;  // strings unescaped only for the simple escapes the header uses
};

class Walker {
public:
    explicit Walker(std::string_view s) : s_(s) {}

    Result<std::vector<Leaf>> run() {
        TRY(value(""));
        skip_ws();
        if (i_ != s_.size()) return bad("trailing data");
        return std::move(leaves_);
    }

private:
    Unexpected bad(const std::string& what) const {
        return fail(EINVAL, "LUKS2 header metadata is not valid JSON (" + what + " at byte " +
                                std::to_string(i_) + ")");
    }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' ||
                                  s_[i_] == '\r'))
            ++i_;
    }
    Result<std::string> string() {
        if (i_ >= s_.size() || s_[i_] != '"') return bad("expected a string");
        std::string out;
        for (++i_; i_ < s_.size(); ++i_) {
            char c = s_[i_];
            if (c == '"') {
                ++i_;
                return out;
            }
            if (c == '\\') {
                if (++i_ >= s_.size()) break;
                c = s_[i_];  // \" \\ \/ kept literally; others are kept as the letter
            }
            out += c;
        }
        return bad("unterminated string");
    }
    Result<void> value(const std::string& path) {
        if (++depth_ > 32) return bad("nesting too deep");
        skip_ws();
        if (i_ >= s_.size()) return bad("unexpected end");
        char c = s_[i_];
        if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            ++i_;
            skip_ws();
            for (size_t n = 0; i_ < s_.size() && s_[i_] != close; ++n) {
                std::string key = std::to_string(n);
                if (c == '{') {
                    key = TRY(string());
                    skip_ws();
                    if (i_ >= s_.size() || s_[i_] != ':') return bad("expected ':'");
                    ++i_;
                }
                TRY(value(path.empty() ? key : path + "/" + key));
                skip_ws();
                if (i_ < s_.size() && s_[i_] == ',') {
                    ++i_;
                    skip_ws();
                } else if (i_ < s_.size() && s_[i_] != close) {
                    return bad("expected ',' or a closing bracket");
                }
            }
            if (i_ >= s_.size()) return bad("unexpected end");
            ++i_;
        } else if (c == '"') {
            leaves_.push_back({path, TRY(string())});
        } else {
            size_t start = i_;
            while (i_ < s_.size() && std::string_view(",}] \n\t\r").find(s_[i_]) ==
                                         std::string_view::npos)
                ++i_;
            if (i_ == start) return bad("unexpected character");
            leaves_.push_back({path, std::string(s_.substr(start, i_ - start))});
        }
        --depth_;
        return ok();
    }

    std::string_view s_;
    size_t i_ = 0;
    int depth_ = 0;
    std::vector<Leaf> leaves_;
};

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

// "segments/0/type" -> {"segments", "0", "type"}
std::vector<std::string> split(const std::string& path) {
    std::vector<std::string> out;
    size_t b = 0;
    for (size_t e; (e = path.find('/', b)) != std::string::npos; b = e + 1)
        out.push_back(path.substr(b, e - b));
    out.push_back(path.substr(b));
    return out;
}

}  // namespace

Result<void> check_luks2_policy(std::string_view json) {
    std::vector<Leaf> leaves = TRY(Walker(json).run());
    int segments = 0;
    for (const auto& leaf : leaves) {
        auto parts = split(leaf.path);
        if (parts.back() == "encryption" && starts_with(leaf.value, "cipher_null"))
            return fail(EPERM, "LUKS2 header refused: '" + leaf.path + "' is " + leaf.value +
                                   " (no encryption; CVE-2025-59054)");
        if (parts.front() != "segments") continue;
        if (parts.size() == 3 && parts[2] == "type") {
            if (leaf.value != "crypt")
                return fail(EPERM, "LUKS2 header refused: segment " + parts[1] + " has type '" +
                                       leaf.value + "', only 'crypt' is accepted");
            ++segments;
        } else if (parts.size() > 3 || (parts.size() == 3 && parts[2] == "integrity")) {
            return fail(EPERM, "LUKS2 header refused: unexpected segment field '" + leaf.path +
                                   "' (authenticated or special segments are not accepted)");
        }
    }
    if (segments == 0) return fail(EPERM, "LUKS2 header refused: no 'crypt' data segment");
    return ok();
}

}  // namespace imageinit::core
