// A session with one registry repository (OCI distribution-spec "pull"): requests with the
// authentication the registry asks for (anonymous, basic, bearer token), retries with backoff,
// and the manifest and small blobs read into memory with their digests checked.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "compose/oci_layout.h"
#include "compose/registry/auth_file.h"
#include "compose/registry/http.h"
#include "compose/registry/options.h"
#include "compose/registry/reference.h"

namespace imageinit::compose::registry {

struct FetchedManifest {
    Descriptor desc;    // of the image manifest (after platform selection), digest verified
    std::string json;   // its bytes
    Manifest manifest;  // parsed; the config blob was fetched and verified
};

class Registry {
  public:
    // Credentials: --creds, else the auth file entry for the host and repository, else none.
    static Result<std::unique_ptr<Registry>> open(const ImageReference& image,
                                                  const RegistryOptions& opts);

    // A connection for one thread (libcurl easy handles are not shared between threads).
    Result<HttpClient> connect() const { return HttpClient::create(tls_, opts_.limit_rate); }

    // GET /v2/REPO/PATH with authentication and retries. `headers` is called before every
    // attempt (a resumed download changes its Range). Returns the final response, whatever
    // its status; transport failures that outlast the retries are errors.
    Result<HttpResponse> get(HttpClient& http, const std::string& path,
                             const std::function<std::vector<std::string>()>& headers,
                             const BodySink& sink, size_t limit);

    // The image manifest for `platform` (following an index), its digest checked against the
    // reference's digest or the registry's Docker-Content-Digest, and its config blob verified.
    Result<FetchedManifest> fetch_manifest(HttpClient& http, const std::string& platform);

    const ImageReference& image() const { return image_; }
    const RegistryOptions& options() const { return opts_; }
    // "docker://HOST/REPO": the prefix of every message about this registry.
    std::string name() const { return "docker://" + image_.host + "/" + image_.repository; }

  private:
    Registry(ImageReference image, RegistryOptions opts) : image_(std::move(image)), opts_(opts) {}
    Result<void> authenticate(HttpClient& http, const HttpResponse& challenge_resp,
                              const std::string& used_authorization);
    Result<std::string> get_small(HttpClient& http, const std::string& path,
                                  const std::vector<std::string>& headers, HttpResponse* resp);

    ImageReference image_;
    RegistryOptions opts_;
    TlsOptions tls_;
    std::optional<Credentials> creds_;
    std::mutex mu_;
    std::string base_;  // "https://HOST" (or http:// after the --tls-verify=false fallback)
    std::string authorization_;  // the header line, "" = anonymous
    bool auth_failed_ = false;
};

// The registry's error document ({"errors":[{"code","message"}]}) or the status, for messages.
std::string describe_status(const HttpResponse& resp);

}  // namespace imageinit::compose::registry
