// Lexical path rules for mount targets and persistent paths (see path_rules.h): normalisation,
// the refused targets, containment and joining. Pure string work; no file system access.
#include "core/path_rules.h"

#include <array>
#include <cstdint>

namespace imageinit::core {
namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one.
// Rejects overlong forms, surrogates and code points above U+10FFFF, as RFC 3629 does.
size_t utf8_sequence_length(std::string_view s, size_t i) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;  // overlong
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;                            // surrogate
    if (cp > 0x10ffff) return 0;
    return len;
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t len = utf8_sequence_length(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

constexpr size_t kQuoteLimit = 200;
constexpr std::array<std::string_view, 3> kRefusedTrees = {"/proc", "/sys", "/dev"};

}  // namespace

std::string quote_text(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "'";
    size_t limit = text.size() > kQuoteLimit ? kQuoteLimit : text.size();
    for (size_t i = 0; i < limit;) {
        auto c = static_cast<unsigned char>(text[i]);
        size_t len = is_control(c) ? 0 : utf8_sequence_length(text, i);
        if (len == 0) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
            ++i;
        } else {
            out.append(text.substr(i, len));
            i += len;
        }
    }
    out += "'";
    if (limit < text.size()) out += "...";
    return out;
}

Result<std::string> normalize_path(std::string_view path) {
    if (path.empty()) return fail("path is empty");
    for (char c : path) {
        if (is_control(static_cast<unsigned char>(c))) {
            return fail("path " + quote_text(path) + " contains a control character");
        }
    }
    if (!is_valid_utf8(path)) return fail("path " + quote_text(path) + " is not valid UTF-8");
    if (path.front() != '/') return fail("path " + quote_text(path) + " is not absolute");

    std::string out;
    out.reserve(path.size());
    size_t pos = 0;
    while (pos < path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        std::string_view component = path.substr(pos, end - pos);
        pos = end + 1;
        if (component.empty() || component == ".") continue;
        // ".." is refused rather than resolved: lexically resolving it can disagree with the
        // file system once symlinks are involved, and a spec has no reason to contain it.
        if (component == "..")
            return fail("path " + quote_text(path) + " contains a '..' component");
        if (component.size() > kMaxComponent) {
            return fail("path component " + quote_text(component) + " is longer than " +
                        std::to_string(kMaxComponent) + " bytes");
        }
        out += '/';
        out.append(component);
    }
    if (out.empty()) out = "/";
    if (out.size() >= kMaxPath) {
        return fail("path " + quote_text(out) + " is longer than " + std::to_string(kMaxPath - 1) +
                    " bytes");
    }
    return out;
}

std::string_view refused_area(std::string_view normalized) {
    if (normalized == "/") return "/";
    for (std::string_view tree : kRefusedTrees) {
        if (is_same_or_under(normalized, tree)) return tree;
    }
    return {};
}

bool is_refused_target(std::string_view normalized) { return !refused_area(normalized).empty(); }

bool is_same_or_under(std::string_view path, std::string_view parent) {
    if (parent == "/") return !path.empty() && path.front() == '/';
    if (!path.starts_with(parent)) return false;
    return path.size() == parent.size() || path[parent.size()] == '/';
}

std::string join_under(std::string_view root, std::string_view normalized) {
    while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
    if (normalized.empty() || normalized == "/") return std::string(root);
    if (root == "/") return std::string(normalized);
    std::string out(root);
    if (normalized.front() != '/') out += '/';
    out.append(normalized);
    return out;
}

}  // namespace imageinit::core
