// The registry's `WWW-Authenticate` challenges (RFC 7235 §4.1; distribution's token auth spec):
// which scheme it wants, and for Bearer the token endpoint's realm, service and scope. Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::compose::registry {

struct Challenge {
    std::string scheme;                         // lower-case: "bearer", "basic"
    std::map<std::string, std::string> params;  // lower-case names, unquoted values
    std::string param(const std::string& name) const {
        auto it = params.find(name);
        return it == params.end() ? std::string() : it->second;
    }
};

// Every challenge in one header value, in order. Malformed text (an unterminated quoted string,
// a parameter without a name) is an error naming the offset.
Result<std::vector<Challenge>> parse_challenges(std::string_view header);

// The token request for a Bearer challenge: REALM?service=…&scope=… (URL-encoded). The realm
// must be an http(s) URL; `scope` is used when the challenge names none.
Result<std::string> token_url(const Challenge& bearer, std::string_view scope);

// "a b&c" -> "a%20b%26c": RFC 3986 unreserved characters stay, everything else is escaped.
std::string url_encode(std::string_view s);

}  // namespace imageinit::compose::registry
