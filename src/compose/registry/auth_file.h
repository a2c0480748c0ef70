// Registry credentials: `--creds USER:PASS`, or the containers/docker auth file
// (containers-auth.json(5)): which files to read, in which order, and which entry applies to a
// registry and repository. Pure apart from find_credentials(), which reads the files.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

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

// Reads the candidates in order (missing files are skipped) and returns the first match.
Result<std::optional<Credentials>> find_credentials(const std::vector<std::string>& files,
                                                    std::string_view host,
                                                    std::string_view repository);

}  // namespace imageinit::compose::registry
