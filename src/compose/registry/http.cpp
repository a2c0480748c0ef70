// libcurl easy interface wrapper. Why libcurl: TLS, proxies, redirects and HTTP/2 done by a
// library every distribution ships and patches, instead of HTTP written by hand.
#include "compose/registry/http.h"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <memory>

#include "os/safe_open.h"

namespace imageinit::compose::registry {
namespace {

constexpr long kConnectTimeoutSeconds = 30;
// A transfer slower than 1 KiB/s for 60 s is stalled: give up (the caller may retry/resume).
constexpr long kLowSpeedBytes = 1024;
constexpr long kLowSpeedSeconds = 60;
constexpr long kMaxRedirects = 10;
constexpr size_t kMaxErrorBody = 64 * 1024;
// Debian's bundle of the system CAs (ca-certificates); with --cert-dir the extra CAs are added
// to it rather than replacing it, as containers/image does.
constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";

using Slist = CHandle<curl_slist, curl_slist_free_all>;

struct Transfer {
    HttpResponse* resp;
    const BodySink* sink;
    size_t limit;
    CURL* curl;
    std::string sink_error;
    bool over_limit = false;
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {
        // A new response (after a redirect or a 100): forget the previous one's headers.
        t->resp->headers.clear();
        t->resp->www_authenticate.clear();
        return size * n;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name = lower(std::string(line.substr(0, colon)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    if (name == "www-authenticate") t->resp->www_authenticate.emplace_back(value);
    t->resp->headers[name] = std::string(value);
    return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t bytes = size * n;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    bool success = status >= 200 && status < 300;
    if (success && t->sink && *t->sink) {
        t->resp->status = status;
        if (auto r = (*t->sink)(*t->resp, data, bytes); !r) {
            t->sink_error = r.error().message;
            return CURL_WRITEFUNC_ERROR;
        }
        return bytes;
    }
    size_t limit = success ? t->limit : kMaxErrorBody;
    if (t->resp->body.size() + bytes > limit) {
        if (!success) return bytes;  // an error page: its beginning is enough
        t->over_limit = true;
        return CURL_WRITEFUNC_ERROR;
    }
    t->resp->body.append(data, bytes);
    return bytes;
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Debian's bundle is ~200 KB; a certificate file is a few KB.
constexpr size_t kMaxCertFile = 16 << 20;

// A CA file --cert-dir or the system names: never waiting on a fifo (os/safe_open.h).
Result<std::string> read_cert_file(const std::string& path) {
    return os::read_checked(AT_FDCWD, path, os::Scope::kHost, kMaxCertFile);
}

}  // namespace

void http_global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }

Result<HttpClient> HttpClient::create(const TlsOptions& tls, long long max_recv_bps) {
    HttpClient c;
    c.max_recv_bps_ = max_recv_bps;
    c.curl_.reset(curl_easy_init());
    if (!c.curl_) return fail("libcurl: curl_easy_init failed");
    c.tls_ = tls;
    if (!tls.cert_dir.empty()) {
        // containers-certs.d(5): *.crt are CAs, NAME.cert with NAME.key a client certificate.
        std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(tls.cert_dir.c_str()), ::closedir);
        if (!dir) return fail_errno("opendir", tls.cert_dir);
        std::vector<std::string> names;
        while (struct dirent* e = ::readdir(dir.get())) names.emplace_back(e->d_name);
        std::sort(names.begin(), names.end());
        auto system = read_cert_file(kSystemBundle);
        if (system) c.ca_blob_ = *system + "\n";
        for (const std::string& n : names) {
            std::string path = tls.cert_dir + "/" + n;
            if (ends_with(n, ".crt")) {
                c.ca_blob_ += TRY(read_cert_file(path)) + "\n";
            } else if (ends_with(n, ".cert") && c.client_cert_.empty()) {
                std::string key = tls.cert_dir + "/" + n.substr(0, n.size() - 5) + ".key";
                if (::access(key.c_str(), R_OK) != 0)
                    return fail("cert-dir: '" + path + "' has no matching '" + key + "'");
                c.client_cert_ = path;
                c.client_key_ = key;
            }
        }
    }
    return c;
}

Result<HttpResponse> HttpClient::get(const std::string& url,
                                     const std::vector<std::string>& headers, const BodySink& sink,
                                     size_t limit, CURLcode* transport_code) {
    if (transport_code) *transport_code = CURLE_OK;
    CURL* h = curl_.get();
    curl_easy_reset(h);
    HttpResponse resp;
    Transfer t{&resp, &sink, limit, h, {}, false};
    Slist list;
    for (const std::string& line : headers) {
        curl_slist* next = curl_slist_append(list.get(), line.c_str());
        if (!next) return fail("libcurl: out of memory");
        (void)list.release();
        list.reset(next);
    }
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, tls_.verify ? "https" : "http,https");
    // Blob GETs are redirected to storage (S3, a CDN); curl drops our Authorization header when
    // the host changes, which is what such storage expects.
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, kMaxRedirects);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, kLowSpeedSeconds);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "imageinit-compose");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    if (max_recv_bps_ > 0)
        curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(max_recv_bps_));
    if (!tls_.verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!ca_blob_.empty()) {
        curl_blob blob{ca_blob_.data(), ca_blob_.size(), CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (!client_cert_.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, client_cert_.c_str());
        curl_easy_setopt(h, CURLOPT_SSLKEY, client_key_.c_str());
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    if (rc != CURLE_OK) {
        if (transport_code) *transport_code = rc;
        std::string why = !t.sink_error.empty() ? t.sink_error
                          : t.over_limit
                              ? "response larger than " + std::to_string(limit) + " bytes"
                          : errbuf[0] ? std::string(errbuf)
                                      : std::string(curl_easy_strerror(rc));
        if (!t.sink_error.empty() && transport_code) *transport_code = CURLE_OK;
        return fail("GET " + url + ": " + why);
    }
    return resp;
}

}  // namespace imageinit::compose::registry
