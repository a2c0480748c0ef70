// Fuzz body: the registry parsers of imageinit-compose (image references and sources,
// WWW-Authenticate challenges, platform strings, auth files and credential helpers' answers).
// The first byte picks the parser.
#include <string>
#include <string_view>

#include "compose/registry/auth_file.h"
#include "compose/registry/challenge.h"
#include "compose/registry/platform.h"
#include "compose/registry/reference.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

using namespace imageinit::compose::registry;

bool has_control(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

void reference(std::string_view text) {
    auto r = parse_image_reference(text);
    if (!r) return;
    // Accepted references become URL paths: no control characters, no "..", no empty parts.
    FUZZ_CHECK(!has_control(r->host) && !has_control(r->repository), std::string(text));
    FUZZ_CHECK(r->repository.find("..") == std::string::npos, r->repository);
    FUZZ_CHECK(r->repository.find("//") == std::string::npos, r->repository);
    FUZZ_CHECK(r->reference().find('/') == std::string::npos, r->reference());
    FUZZ_CHECK(!r->tag.empty() != !r->digest.empty(), std::string(text));
    // What a slot records parses back to the same image.
    auto again = parse_source(r->to_string());
    FUZZ_CHECK(again && again->kind == SourceKind::kRegistry, r->to_string());
    FUZZ_CHECK(again->image.host == r->host && again->image.repository == r->repository &&
                   again->image.tag == r->tag && again->image.digest == r->digest,
               r->to_string());
}

void challenge(std::string_view text) {
    auto r = parse_challenges(text);
    if (!r) return;
    FUZZ_CHECK(!r->empty(), std::string(text));
    for (const Challenge& c : *r) {
        FUZZ_CHECK(!c.scheme.empty(), std::string(text));
        FUZZ_CHECK(c.params.size() <= 32, std::string(text));
        auto url = token_url(c, "repository:x:pull");
        if (url) FUZZ_CHECK(!has_control(*url) && url->find(' ') == std::string::npos, *url);
    }
}

void platform(std::string_view text) {
    auto r = parse_platform(text);
    if (!r) return;
    FUZZ_CHECK(r->to_string() == text, std::string(text));
}

void auth(std::string_view text) {
    // The whole input as an auth file, then as a helper's answer.
    auto r = lookup_auth(text, "reg.example:5000", "team/x");
    if (r) {
        // A helper name becomes a program name: never a path, never hidden.
        FUZZ_CHECK(r->helper.find('/') == std::string::npos, r->helper);
        FUZZ_CHECK(r->helper.empty() || r->helper[0] != '.', r->helper);
        FUZZ_CHECK(!(r->credentials && !r->helper.empty()), std::string(text));
    }
    auto c = parse_helper_output(text, "x");
    if (c) FUZZ_CHECK(!c->username.empty() && c->username != "<token>", std::string(text));
}

}  // namespace

void fuzz_registry(const uint8_t* data, size_t size) {
    if (size == 0) return;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0:
            reference(text);
            break;
        case 1:
            challenge(text);
            break;
        case 2:
            platform(text);
            break;
        default:
            auth(text);
            break;
    }
}

}  // namespace imageinit::fuzz
