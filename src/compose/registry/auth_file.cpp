// Auth file lookup. Key normalisation follows what podman/skopeo and docker write: plain
// "host[:port][/path]" keys, and docker's legacy "https://index.docker.io/v1/".
#include "compose/registry/auth_file.h"

#include <cstdlib>

#include "compose/json_reader.h"

namespace imageinit::compose::registry {
namespace {

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

std::string normalise_key(std::string_view key) {
    if (key.starts_with("https://"))
        key.remove_prefix(8);
    else if (key.starts_with("http://"))
        key.remove_prefix(7);
    while (key.ends_with("/")) key.remove_suffix(1);
    if (key.ends_with("/v1") || key.ends_with("/v2")) key.remove_suffix(3);
    std::string k(key);
    if (k == "index.docker.io" || k == "registry-1.docker.io")
        k = "docker.io";
    else if (k.starts_with("index.docker.io/"))
        k = "docker.io" + k.substr(15);
    return k;
}

}  // namespace

AuthEnv AuthEnv::from_environment(std::string authfile) {
    AuthEnv e;
    e.authfile = std::move(authfile);
    e.registry_auth_file = env_or_empty("REGISTRY_AUTH_FILE");
    e.xdg_runtime_dir = env_or_empty("XDG_RUNTIME_DIR");
    e.xdg_config_home = env_or_empty("XDG_CONFIG_HOME");
    e.home = env_or_empty("HOME");
    e.docker_config = env_or_empty("DOCKER_CONFIG");
    return e;
}

std::vector<std::string> auth_file_candidates(const AuthEnv& env) {
    if (!env.authfile.empty()) return {env.authfile};
    std::vector<std::string> out;
    if (!env.registry_auth_file.empty()) out.push_back(env.registry_auth_file);
    if (!env.xdg_runtime_dir.empty()) out.push_back(env.xdg_runtime_dir + "/containers/auth.json");
    if (!env.xdg_config_home.empty())
        out.push_back(env.xdg_config_home + "/containers/auth.json");
    else if (!env.home.empty())
        out.push_back(env.home + "/.config/containers/auth.json");
    if (!env.docker_config.empty())
        out.push_back(env.docker_config + "/config.json");
    else if (!env.home.empty())
        out.push_back(env.home + "/.docker/config.json");
    if (!env.home.empty()) out.push_back(env.home + "/.dockercfg");
    return out;
}

Result<Credentials> parse_creds(std::string_view text) {
    size_t colon = text.find(':');
    Credentials c;
    c.username = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) c.password = std::string(text.substr(colon + 1));
    if (c.username.empty()) return fail("--creds: expected USER:PASS with a non-empty USER");
    return c;
}

std::optional<std::string> base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; ++j) {
            char c = text[i + j];
            if (c == '=' && i + 4 == text.size() && j >= 2) {
                v[j] = 0;
                ++pad;
                continue;
            }
            if (pad) return std::nullopt;  // data after padding
            v[j] = value(c);
            if (v[j] < 0) return std::nullopt;
        }
        uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        out += static_cast<char>((n >> 16) & 0xff);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(n & 0xff);
    }
    return out;
}

Result<std::optional<Credentials>> lookup_credentials(std::string_view auth_json,
                                                      std::string_view host,
                                                      std::string_view repository) {
    JsonValue doc = TRY(parse_json(auth_json));
    // auth.json and docker's config.json keep entries under "auths"; ~/.dockercfg at the top.
    const JsonValue* auths = doc.get("auths");
    if (!auths) auths = &doc;
    if (!auths->is_object()) return std::optional<Credentials>();
    std::string want_host = normalise_key(host);
    // Most specific first: HOST/REPO, then each shorter namespace, then HOST.
    std::vector<std::string> wanted;
    std::string path = want_host + "/" + std::string(repository);
    for (;;) {
        wanted.push_back(path);
        size_t slash = path.rfind('/');
        if (slash == std::string::npos) break;
        path.resize(slash);
    }
    for (const std::string& w : wanted) {
        for (const auto& [key, entry] : auths->object) {
            if (normalise_key(key) != w) continue;
            std::string auth = entry.get_string("auth");
            if (auth.empty()) continue;  // e.g. only a credential helper is named
            auto decoded = base64_decode(auth);
            size_t colon = decoded ? decoded->find(':') : std::string::npos;
            if (colon == std::string::npos || colon == 0)
                return fail("auth entry '" + key + "': \"auth\" is not base64 of USER:PASS");
            return std::optional<Credentials>(
                Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)});
        }
    }
    return std::optional<Credentials>();
}

Result<AuthSource> lookup_auth(std::string_view auth_json, std::string_view host,
                               std::string_view repository) {
    JsonValue doc = TRY(parse_json(auth_json));
    AuthSource out;
    std::string want_host = normalise_key(host);
    auto helper_named = [&](const JsonValue* v, const std::string& where) -> Result<std::string> {
        if (!v) return std::string();
        // The name becomes part of a program name: no path, nothing a shell would read.
        if (!v->is_string() || v->string.empty() ||
            v->string.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_.") != std::string::npos ||
            v->string[0] == '.')
            return fail(where + ": not a credential helper name");
        return v->string;
    };
    if (const JsonValue* helpers = doc.get("credHelpers"); helpers && helpers->is_object()) {
        for (const auto& [key, value] : helpers->object) {
            if (normalise_key(key) != want_host) continue;
            out.helper = TRY(helper_named(&value, "credHelpers entry '" + key + "'"));
            return out;
        }
    }
    out.credentials = TRY(lookup_credentials(auth_json, host, repository));
    if (!out.credentials) out.helper = TRY(helper_named(doc.get("credsStore"), "credsStore"));
    return out;
}

std::string helper_server_url(std::string_view host) {
    return normalise_key(host) == "docker.io" ? "https://index.docker.io/v1/" : std::string(host);
}

Result<Credentials> parse_helper_output(std::string_view json, std::string_view helper) {
    std::string who = "credential helper 'docker-credential-" + std::string(helper) + "'";
    auto doc = parse_json(json);
    if (!doc || !doc->is_object()) return fail(who + ": its answer is not a JSON object");
    Credentials c{doc->get_string("Username"), doc->get_string("Secret")};
    if (c.username == "<token>")
        return fail(who +
                    " returned an identity token (an OAuth refresh token), which is not "
                    "supported: log in with a user name and password or token");
    if (c.username.empty()) return fail(who + ": its answer has no \"Username\"");
    return c;
}

}  // namespace imageinit::compose::registry
