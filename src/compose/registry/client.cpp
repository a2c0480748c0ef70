// Registry session: auth negotiation per the distribution token spec (401 + WWW-Authenticate,
// token from the realm, the request again with it), retries, and manifest resolution.
#include "compose/registry/client.h"

#include <chrono>
#include <thread>

#include "compose/json_reader.h"
#include "compose/registry/challenge.h"
#include "compose/registry/credentials.h"
#include "compose/registry/platform.h"
#include "compose/registry/retry.h"
#include "compose/sha256.h"

namespace imageinit::compose::registry {
namespace {

constexpr size_t kMaxManifest = 4 << 20;  // as the OCI layout reader: manifests are small
constexpr size_t kMaxToken = 1 << 20;
constexpr int kMaxIndexDepth = 4;

std::string base64_encode(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
    }
    if (size_t rest = in.size() - i; rest > 0) {
        uint32_t n = uint8_t(in[i]) << 16;
        if (rest == 2) n |= uint8_t(in[i + 1]) << 8;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string basic_header(const Credentials& c) {
    return "Authorization: Basic " + base64_encode(c.username + ":" + c.password);
}

// docker.io's API lives elsewhere (what every client does).
std::string api_host(const std::string& host) {
    return host == "docker.io" ? "registry-1.docker.io" : host;
}

std::string accept_header() {
    std::string h = "Accept: ";
    for (size_t i = 0; i < kManifestMediaTypeCount; ++i)
        h += (i ? ", " : "") + std::string(kManifestMediaTypes[i]);
    return h;
}

}  // namespace

std::string describe_status(const HttpResponse& resp) {
    std::string what = "HTTP " + std::to_string(resp.status);
    auto doc = parse_json(resp.body);
    if (doc) {
        if (const JsonValue* errors = doc->get("errors"); errors && errors->is_array()) {
            for (const JsonValue& e : errors->array) {
                std::string code = e.get_string("code"), message = e.get_string("message");
                if (!message.empty()) return message + " (" + code + ", " + what + ")";
            }
        }
    }
    return what;
}

Result<std::unique_ptr<Registry>> Registry::open(const ImageReference& image,
                                                 const RegistryOptions& opts) {
    std::unique_ptr<Registry> r(new Registry(image, opts));
    r->tls_.verify = opts.tls_verify;
    r->tls_.cert_dir = opts.cert_dir;
    r->base_ = "https://" + api_host(image.host);
    if (!opts.creds.empty()) {
        r->creds_ = TRY(parse_creds(opts.creds));
    } else {
        auto files = auth_file_candidates(AuthEnv::from_environment(opts.authfile));
        r->creds_ = TRY(find_credentials(files, image.host, image.repository));
    }
    return r;
}

Result<void> Registry::authenticate(HttpClient& http, const HttpResponse& challenge_resp,
                                    const std::string& used_authorization) {
    std::lock_guard lock(mu_);
    if (authorization_ != used_authorization) return ok();  // another thread did it already
    if (auth_failed_ || !used_authorization.empty()) {
        auth_failed_ = true;
        return fail(name() + ": authentication failed" +
                    (creds_ ? " for user '" + creds_->username + "' (wrong password?)"
                            : ": the registry wants credentials (--creds or an auth file)"));
    }
    std::vector<Challenge> all;
    for (const std::string& h : challenge_resp.www_authenticate) {
        auto parsed = parse_challenges(h);
        if (!parsed) return fail(name() + ": " + parsed.error().message);
        all.insert(all.end(), parsed->begin(), parsed->end());
    }
    const Challenge* bearer = nullptr;
    const Challenge* basic = nullptr;
    for (const Challenge& c : all) {
        if (c.scheme == "bearer" && !bearer) bearer = &c;
        if (c.scheme == "basic" && !basic) basic = &c;
    }
    if (bearer) {
        std::string url = TRY(token_url(*bearer, "repository:" + image_.repository + ":pull"));
        std::vector<std::string> headers;
        if (creds_) headers.push_back(basic_header(*creds_));
        HttpResponse resp;
        for (int attempt = 0;; ++attempt) {
            CURLcode code;
            auto r = http.get(url, headers, {}, kMaxToken, &code);
            if (!r && attempt < opts_.retry_times && retryable_transport(code)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(attempt + 1, "")));
                continue;
            }
            if (!r) return fail(name() + ": token: " + r.error().message);
            if (retryable_status(r->status) && attempt < opts_.retry_times) {
                std::this_thread::sleep_for(
                    std::chrono::milliseconds(backoff_ms(attempt + 1, r->header("retry-after"))));
                continue;
            }
            resp = std::move(*r);
            break;
        }
        if (resp.status == 401 || resp.status == 403) {
            auth_failed_ = true;
            return fail(name() + ": the token service refused " +
                        (creds_ ? "user '" + creds_->username + "' (wrong password?)"
                                : std::string("anonymous access (--creds or an auth file)")));
        }
        if (resp.status != 200) return fail(name() + ": token request: " + describe_status(resp));
        auto doc = parse_json(resp.body);
        std::string token = doc ? doc->get_string("token") : std::string();
        if (token.empty() && doc) token = doc->get_string("access_token");
        if (token.empty()) return fail(name() + ": the token response has no token");
        authorization_ = "Authorization: Bearer " + token;
        return ok();
    }
    if (basic) {
        if (!creds_)
            return fail(name() + ": the registry wants credentials (--creds or an auth file)");
        authorization_ = basic_header(*creds_);
        return ok();
    }
    return fail(name() + ": unsupported authentication challenge '" +
                (challenge_resp.www_authenticate.empty() ? std::string("none")
                                                         : challenge_resp.www_authenticate[0]) +
                "'");
}

Result<HttpResponse> Registry::get(HttpClient& http, const std::string& path,
                                   const std::function<std::vector<std::string>()>& headers,
                                   const BodySink& sink, size_t limit) {
    for (int attempt = 0, auth_rounds = 0;;) {
        std::string authorization, base;
        {
            std::lock_guard lock(mu_);
            authorization = authorization_;
            base = base_;
        }
        std::vector<std::string> lines = headers ? headers() : std::vector<std::string>();
        if (!authorization.empty()) lines.push_back(authorization);
        std::string url = base + "/v2/" + image_.repository + "/" + path;
        CURLcode code;
        auto r = http.get(url, lines, sink, limit, &code);
        if (!r) {
            if (!opts_.tls_verify && base.starts_with("https://") &&
                (code == CURLE_SSL_CONNECT_ERROR)) {
                // --tls-verify=false also means a registry without TLS (skopeo's rule).
                std::lock_guard lock(mu_);
                base_ = "http://" + api_host(image_.host);
                continue;
            }
            if (attempt < opts_.retry_times && retryable_transport(code)) {
                ++attempt;
                std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(attempt, "")));
                continue;
            }
            std::string hint;
            if (code == CURLE_PEER_FAILED_VERIFICATION)
                hint = " (give the registry's CA with --cert-dir DIR, or --tls-verify=false)";
            else if (retryable_transport(code) && attempt > 0)
                hint = " (after " + std::to_string(attempt) + " retries)";
            return fail(r.error().code, r.error().message + hint);
        }
        if (r->status == 401 && auth_rounds < 2) {
            ++auth_rounds;
            TRY(authenticate(http, *r, authorization));
            continue;
        }
        if (retryable_status(r->status) && attempt < opts_.retry_times) {
            ++attempt;
            std::this_thread::sleep_for(
                std::chrono::milliseconds(backoff_ms(attempt, r->header("retry-after"))));
            continue;
        }
        return r;
    }
}

Result<std::string> Registry::get_small(HttpClient& http, const std::string& path,
                                        const std::vector<std::string>& headers,
                                        HttpResponse* out) {
    HttpResponse resp = TRY(get(
        http, path, [&] { return headers; }, {}, kMaxManifest));
    if (resp.status == 404)
        return fail(name() + ": " + path + ": not found: " + describe_status(resp));
    if (resp.status != 200) return fail(name() + ": " + path + ": " + describe_status(resp));
    if (out) *out = resp;
    return std::move(resp.body);
}

Result<FetchedManifest> Registry::fetch_manifest(HttpClient& http, const std::string& platform) {
    Platform want = platform.empty() ? host_platform() : TRY(parse_platform(platform));
    std::string reference = image_.reference();
    std::string expect_digest = image_.digest;  // "" = trust the registry's header, checked
    int64_t expect_size = -1;
    for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
        HttpResponse resp;
        std::string body = TRY(get_small(http, "manifests/" + reference, {accept_header()}, &resp));
        std::string got = "sha256:" + sha256_hex(body);
        std::string header = resp.header("docker-content-digest");
        if (!expect_digest.empty() && got != expect_digest)
            return fail(name() + ": manifest " + reference + ": digest mismatch (got " + got + ")");
        if (expect_digest.empty() && !header.empty() && header != got)
            return fail(name() + ": manifest " + reference + ": content is " + got +
                        " but the registry says " + header);
        if (expect_size >= 0 && static_cast<int64_t>(body.size()) != expect_size)
            return fail(name() + ": manifest " + got + ": size " + std::to_string(body.size()) +
                        " does not match the index's " + std::to_string(expect_size));
        DocumentKind kind =
            TRY_CTX(document_kind(body, resp.header("content-type")), name() + ":" + reference);
        if (kind == DocumentKind::kIndex) {
            Descriptor d = TRY_CTX(select_platform(body, want), name() + ":" + reference);
            reference = expect_digest = d.digest;
            expect_size = d.size;
            continue;
        }
        FetchedManifest out;
        out.manifest = TRY_CTX(parse_manifest(body), name() + "@" + got);
        out.desc.digest = got;
        out.desc.hex = got.substr(7);
        out.desc.size = static_cast<int64_t>(body.size());
        out.json = std::move(body);
        // The config: small, verified, and proof that the manifest's blobs are reachable.
        const Descriptor& c = out.manifest.config;
        std::string config = TRY(get_small(http, "blobs/" + c.digest, {}, nullptr));
        if (static_cast<int64_t>(config.size()) != c.size || sha256_hex(config) != c.hex)
            return fail(name() + ": config blob " + c.digest + ": digest or size mismatch");
        return out;
    }
    return fail(name() + ": nested indexes deeper than " + std::to_string(kMaxIndexDepth));
}

}  // namespace imageinit::compose::registry
