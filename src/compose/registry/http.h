// One HTTP(S) request at a time over a libcurl easy handle: TLS with the system CAs (plus
// --cert-dir), redirects followed, connect and stall timeouts, headers collected, the body kept
// in memory or handed to a sink as it streams. No retries and no auth here (client.cpp).
#pragma once

#include <curl/curl.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/c_handle.h"
#include "base/result.h"

namespace imageinit::compose::registry {

struct TlsOptions {
    bool verify = true;    // false: no certificate check, and plain http is allowed
    std::string cert_dir;  // *.crt: extra CAs; NAME.cert + NAME.key: a client certificate
};

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers;  // lower-case names; the last value wins
    std::vector<std::string> www_authenticate;   // every WWW-Authenticate value
    std::string body;                            // when no sink was given (bounded)
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct HttpError {
    CURLcode code = CURLE_OK;  // CURLE_OK when the failure is the sink's
    std::string message;
};

// Receives the body of a 2xx response, with its status and headers (`head.body` is empty).
// Returning an error aborts the transfer with it.
using BodySink =
    std::function<Result<void>(const HttpResponse& head, const char* data, size_t size)>;

class HttpClient {
  public:
    // `max_recv_bps` caps the receive rate of each transfer (0 = no cap): a device on a metered
    // or shared link must not saturate it.
    static Result<HttpClient> create(const TlsOptions& tls, long long max_recv_bps = 0);

    // GET url. 4xx/5xx are responses, not errors; a transport failure (no connection, TLS,
    // timeout, a body over `limit`, a sink error) is an error whose message names the URL.
    // `transport_code` is set to the curl code of a transport failure (CURLE_OK otherwise).
    Result<HttpResponse> get(const std::string& url, const std::vector<std::string>& headers,
                             const BodySink& sink, size_t limit, CURLcode* transport_code);

  private:
    using Easy = CHandle<CURL, curl_easy_cleanup>;
    HttpClient() = default;
    Easy curl_;
    TlsOptions tls_;
    long long max_recv_bps_ = 0;
    std::string ca_blob_;  // system bundle + cert_dir/*.crt, when cert_dir is given
    std::string client_cert_, client_key_;
};

// Once per process, before any thread starts a transfer.
void http_global_init();

}  // namespace imageinit::compose::registry
