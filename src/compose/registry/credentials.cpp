// Auth files read without blocking (an auth file is a path an administrator names: a fifo
// there must not hang compose) and credential helpers run as docker-credential-helpers(1) says.
#include "compose/registry/credentials.h"

#include <fcntl.h>

#include <cerrno>

#include "compose/subprocess.h"
#include "os/safe_open.h"

namespace imageinit::compose::registry {
namespace {

constexpr size_t kMaxAuthFile = 1 << 20;
constexpr size_t kMaxHelperOutput = 64 << 10;
// What docker-credential-helpers print (exit status 1) for a server they hold nothing for.
constexpr std::string_view kNotFound = "credentials not found";

std::string first_line(std::string_view text) {
    while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
    return std::string(text.substr(0, std::min(text.find('\n'), size_t{200})));
}

}  // namespace

Result<std::optional<Credentials>> run_credential_helper(const std::string& helper,
                                                         std::string_view host) {
    std::string program = "docker-credential-" + helper;
    auto r = run_with_input({program, "get"}, helper_server_url(host), kMaxHelperOutput);
    if (!r && r.error().code == ENOENT)
        return fail("credential helper '" + program + "' is not installed (not in PATH)");
    if (!r) return fail("credential helper '" + program + "': " + r.error().message);
    if (r->exit_code != 0) {
        if (r->output.find(kNotFound) != std::string::npos) return std::optional<Credentials>();
        std::string why = first_line(r->output);
        return fail("credential helper '" + program + "' failed for " + std::string(host) +
                    " (exit status " + std::to_string(r->exit_code) + ")" +
                    (why.empty() ? "" : ": " + why));
    }
    return std::optional<Credentials>(TRY(parse_helper_output(r->output, helper)));
}

Result<std::optional<Credentials>> find_credentials(const std::vector<std::string>& files,
                                                    std::string_view host,
                                                    std::string_view repository) {
    for (const std::string& file : files) {
        auto text = os::read_checked(AT_FDCWD, file, os::Scope::kHost, kMaxAuthFile);
        if (!text && text.error().code == ENOENT) continue;
        if (!text) return fail("auth file '" + file + "': " + text.error().message);
        auto found = lookup_auth(*text, host, repository);
        if (!found) return fail("auth file '" + file + "': " + found.error().message);
        if (found->credentials) return found->credentials;
        if (found->helper.empty()) continue;
        auto helped = run_credential_helper(found->helper, host);
        if (!helped) return fail("auth file '" + file + "': " + helped.error().message);
        if (*helped) return helped;
    }
    return std::optional<Credentials>();
}

}  // namespace imageinit::compose::registry
