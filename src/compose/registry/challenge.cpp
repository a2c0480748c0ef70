// A small tokenizer over RFC 7230's token and quoted-string: challenges are separated by commas,
// as are their parameters, so a new challenge starts where a token is not followed by '='.
#include "compose/registry/challenge.h"

#include <cctype>

namespace imageinit::compose::registry {
namespace {

constexpr size_t kMaxHeader = 16 * 1024;
constexpr size_t kMaxParams = 32;

bool is_tchar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

class Lexer {
  public:
    explicit Lexer(std::string_view s) : s_(s) {}
    bool done() const { return i_ >= s_.size(); }
    char peek() const { return done() ? '\0' : s_[i_]; }
    void skip_ws() {
        while (!done() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
    }
    void skip_ws_and_commas() {
        while (!done() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == ',')) ++i_;
    }
    std::string_view token() {
        size_t start = i_;
        while (!done() && is_tchar(s_[i_])) ++i_;
        return s_.substr(start, i_ - start);
    }
    // token68 (RFC 7235 §2.1): a token followed by '=' padding; used by no registry scheme we
    // speak, but it must not be mistaken for a parameter.
    size_t pos() const { return i_; }
    void seek(size_t p) { i_ = p; }
    void bump() { ++i_; }
    Result<std::string> quoted() {
        ++i_;  // opening quote
        std::string out;
        while (!done()) {
            char c = s_[i_++];
            if (c == '"') return out;
            if (c == '\\') {
                if (done()) break;
                c = s_[i_++];
            }
            out += c;
        }
        return fail("www-authenticate: unterminated quoted string");
    }
    Unexpected error(const char* what) const {
        return fail("www-authenticate: offset " + std::to_string(i_) + ": " + what);
    }

  private:
    std::string_view s_;
    size_t i_ = 0;
};

// After a ',' inside a challenge: does a parameter ("name =") follow, or a new challenge?
bool param_follows(Lexer& lx) {
    size_t save = lx.pos();
    lx.skip_ws_and_commas();
    bool name = !lx.token().empty();
    lx.skip_ws();
    bool is_param = name && lx.peek() == '=';
    lx.seek(save);
    return is_param;
}

}  // namespace

Result<std::vector<Challenge>> parse_challenges(std::string_view header) {
    if (header.size() > kMaxHeader) return fail("www-authenticate: header too long");
    std::vector<Challenge> out;
    Lexer lx(header);
    for (;;) {
        lx.skip_ws_and_commas();
        if (lx.done()) break;
        std::string_view scheme = lx.token();
        if (scheme.empty()) return lx.error("expected an authentication scheme");
        Challenge ch;
        ch.scheme = lower(scheme);
        lx.skip_ws();
        // Parameters until the end or a token that starts the next challenge.
        while (!lx.done() && lx.peek() != ',') {
            size_t start = lx.pos();
            std::string_view name = lx.token();
            if (name.empty()) return lx.error("expected a parameter name");
            lx.skip_ws();
            if (lx.peek() != '=') {
                lx.seek(start);
                return lx.error("expected '=' after the parameter name");
            }
            lx.bump();
            // token68 padding ("abc==") ends here: nothing but '=' and then the end or ','.
            lx.skip_ws();
            std::string value;
            if (lx.peek() == '"') {
                value = TRY(lx.quoted());
            } else {
                value = std::string(lx.token());
                while (lx.peek() == '=') {
                    value += '=';
                    lx.bump();
                }
            }
            if (ch.params.size() >= kMaxParams) return lx.error("too many parameters");
            ch.params[lower(name)] = std::move(value);
            lx.skip_ws();
            if (lx.peek() == ',') {
                if (!param_follows(lx)) break;
                lx.bump();
                lx.skip_ws_and_commas();
            } else if (!lx.done()) {
                return lx.error("expected ',' between parameters");
            }
        }
        out.push_back(std::move(ch));
    }
    if (out.empty()) return fail("www-authenticate: no challenge");
    return out;
}

std::string url_encode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    return out;
}

Result<std::string> token_url(const Challenge& bearer, std::string_view scope) {
    std::string realm = bearer.param("realm");
    if (!(realm.starts_with("https://") || realm.starts_with("http://")))
        return fail("bearer challenge: realm '" + realm + "' is not an http(s) URL");
    for (char c : realm)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return fail("bearer challenge: realm has a space or control character");
    std::string url = realm;
    char sep = realm.find('?') == std::string::npos ? '?' : '&';
    auto add = [&](const char* key, const std::string& value) {
        if (value.empty()) return;
        url += sep;
        url += key;
        url += '=';
        url += url_encode(value);
        sep = '&';
    };
    add("service", bearer.param("service"));
    std::string s = bearer.param("scope");
    add("scope", s.empty() ? std::string(scope) : s);
    return url;
}

}  // namespace imageinit::compose::registry
