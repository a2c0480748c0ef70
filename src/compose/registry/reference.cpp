// Reference grammar after distribution/reference (the registry's own): host, lower-case path
// components joined by separators, a tag of word characters, or a sha256 digest.
#include "compose/registry/reference.h"

#include <cctype>

#include "compose/oci_layout.h"

namespace imageinit::compose::registry {
namespace {

constexpr size_t kMaxName = 255;  // distribution/reference's NameTotalLengthMax
constexpr size_t kMaxTag = 128;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_word(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_'; }

// [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool valid_path_component(std::string_view c) {
    if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
    for (size_t i = 0; i < c.size();) {
        if (is_lower_alnum(c[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < c.size() && !is_lower_alnum(c[j])) ++j;
        std::string_view sep = c.substr(i, j - i);
        bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
        if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
        i = j;
    }
    return true;
}

bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > kMaxTag || !is_word(t.front())) return false;
    for (char c : t)
        if (!is_word(c) && c != '.' && c != '-') return false;
    return true;
}

// HOST[:PORT]: letters, digits, '-' and '.', or a bracketed IPv6 address; port 1-65535.
bool valid_host(std::string_view h) {
    if (h.empty()) return false;
    std::string_view port;
    bool has_port = false;
    if (h.front() == '[') {
        size_t close = h.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        for (char c : h.substr(1, close - 1))
            if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':')) return false;
        std::string_view rest = h.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
            has_port = true;
        }
    } else {
        size_t colon = h.find(':');
        std::string_view name = h.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = h.substr(colon + 1);
            has_port = true;
        }
        if (name.empty() || name.front() == '-' || name.front() == '.' || name.back() == '-' ||
            name.back() == '.')
            return false;
        for (char c : name)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
                return false;
    }
    if (!has_port) return true;
    if (port.empty() || port.size() > 5) return false;
    unsigned value = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value >= 1 && value <= 65535;
}

Unexpected bad(std::string_view text, const std::string& why) {
    return fail("image reference '" + std::string(text) + "': " + why);
}

}  // namespace

std::string ImageReference::to_string() const {
    std::string s = "docker://" + host + "/" + repository;
    return digest.empty() ? s + ":" + tag : s + "@" + digest;
}

Result<ImageReference> parse_image_reference(std::string_view text) {
    if (text.empty()) return bad(text, "empty");
    ImageReference ref;
    std::string_view name = text;
    if (size_t at = text.find('@'); at != std::string_view::npos) {
        std::string_view digest = text.substr(at + 1);
        auto hex = validate_digest(digest);
        if (!hex) return bad(text, hex.error().message);
        ref.digest = std::string(digest);
        name = text.substr(0, at);
    }
    // A tag is after the last ':' that follows the last '/', so "host:5000/repo" has none.
    size_t slash = name.rfind('/');
    size_t colon = name.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        std::string_view tag = name.substr(colon + 1);
        if (!valid_tag(tag)) return bad(text, "malformed tag '" + std::string(tag) + "'");
        if (!ref.digest.empty()) return bad(text, "give a tag or a digest, not both");
        ref.tag = std::string(tag);
        name = name.substr(0, colon);
    }
    if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";

    if (name.empty() || name.front() == '/') return bad(text, "no repository");
    std::string_view first = name.substr(0, name.find('/'));
    bool has_host = name.find('/') != std::string_view::npos &&
                    (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
                     first.front() == '[');
    std::string_view path = name;
    if (has_host) {
        if (!valid_host(first))
            return bad(text, "malformed registry host '" + std::string(first) + "'");
        ref.host = std::string(first);
        path = name.substr(first.size() + 1);
    } else {
        ref.host = "docker.io";
    }
    if (ref.host == "docker.io" || ref.host == "index.docker.io") {
        ref.host = "docker.io";
        if (path.find('/') == std::string_view::npos) ref.repository = "library/";
    }
    if (path.empty()) return bad(text, "no repository");
    for (size_t start = 0;;) {
        size_t end = path.find('/', start);
        std::string_view comp =
            path.substr(start, end == std::string_view::npos ? end : end - start);
        if (!valid_path_component(comp))
            return bad(text, "malformed repository component '" + std::string(comp) + "'");
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    ref.repository += std::string(path);
    if (ref.host.size() + 1 + ref.repository.size() > kMaxName)
        return bad(text, "name longer than " + std::to_string(kMaxName) + " characters");
    return ref;
}

Result<Source> parse_source(std::string_view input) {
    Source s;
    constexpr std::string_view kDocker = "docker://";
    constexpr std::string_view kOci = "oci:";
    if (input.starts_with(kDocker)) {
        s.kind = SourceKind::kRegistry;
        s.image = TRY(parse_image_reference(input.substr(kDocker.size())));
        return s;
    }
    if (input.starts_with(kOci)) {
        // Like skopeo's oci transport: the first ':' ends DIR, so DIR itself has none.
        std::string_view rest = input.substr(kOci.size());
        size_t colon = rest.find(':');
        s.kind = SourceKind::kOciLayout;
        s.dir = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos) {
            s.ref = std::string(rest.substr(colon + 1));
            if (s.ref.empty())
                return fail("source '" + std::string(input) + "': empty REF after ':'");
        }
        if (s.dir.empty()) return fail("source '" + std::string(input) + "': no directory");
        return s;
    }
    // "transport:rest" where the transport is a bare word is another tool's syntax; a path
    // that needs a ':' can be written with a '/' before it ("./a:b").
    size_t colon = input.find(':');
    if (colon != std::string_view::npos && colon > 0 &&
        input.substr(0, colon).find('/') == std::string_view::npos) {
        std::string_view transport = input.substr(0, colon);
        bool word =
            transport.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") == std::string_view::npos;
        if (word)
            return fail("source '" + std::string(input) + "': unsupported transport '" +
                        std::string(transport) + "' (use docker://, oci: or a directory)");
    }
    if (input.empty()) return fail("source is empty");
    s.dir = std::string(input);
    return s;
}

}  // namespace imageinit::compose::registry
