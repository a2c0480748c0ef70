// Registry credentials: `--creds USER:PASS`, or the containers/docker auth file
// (containers-auth.json(5)): which files to read, in which order, which entry or credential
// helper applies to a registry and repository, and what a helper answers. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::compose::registry {

struct Credentials {
    std::string username;
    std::string password;
};

// The environment the lookup depends on, passed in so tests need no real one.
struct AuthEnv {
    std::string authfile;            // --authfile: then only this file
    std::string registry_auth_file;  // $REGISTRY_AUTH_FILE
    std::string xdg_runtime_dir;     // $XDG_RUNTIME_DIR
    std::string xdg_config_home;     // $XDG_CONFIG_HOME
    std::string home;                // $HOME
    std::string docker_config;       // $DOCKER_CONFIG (a directory)
    static AuthEnv from_environment(std::string authfile);
};

// The files to try, first match wins: --authfile alone; else $REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME (or ~/.config)/containers/auth.json,
// $DOCKER_CONFIG (or ~/.docker)/config.json, ~/.dockercfg.
std::vector<std::string> auth_file_candidates(const AuthEnv& env);

// "USER:PASS" (the password may contain ':'); an empty user is an error.
Result<Credentials> parse_creds(std::string_view text);

// Standard base64 with padding; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

// The entry of an auth file for HOST and REPOSITORY: the most specific key among
// "HOST/REPO", its namespaces "HOST/NS", and "HOST" (a scheme and Docker's "/v1/" suffix on a
// key are ignored; "index.docker.io" is "docker.io"). nullopt when none applies; an entry whose
// "auth" is not base64 of "USER:PASS" is an error naming the key.
Result<std::optional<Credentials>> lookup_credentials(std::string_view auth_json,
                                                      std::string_view host,
                                                      std::string_view repository);

// What one auth file says about a registry: credentials of an "auths" entry, or the name of the
// credential helper to ask (docker-credential-NAME), or nothing. As docker and skopeo do,
// "credHelpers" for the host comes first, then the "auths" entry, then "credsStore" (the
// default helper of `docker login` on a desktop).
struct AuthSource {
    std::optional<Credentials> credentials;
    std::string helper;  // "" = none
};
Result<AuthSource> lookup_auth(std::string_view auth_json, std::string_view host,
                               std::string_view repository);

// The server URL a credential helper is asked about (docker's keys: Docker Hub is
// "https://index.docker.io/v1/", any other registry its HOST[:PORT]).
std::string helper_server_url(std::string_view host);

// A helper's answer to `get` ({"ServerURL","Username","Secret"}). An identity token (Username
// "<token>", an OAuth refresh token) is refused with a clear error: not supported.
Result<Credentials> parse_helper_output(std::string_view json, std::string_view helper);

}  // namespace imageinit::compose::registry
