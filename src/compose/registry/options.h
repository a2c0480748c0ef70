// The registry options of imageinit-compose; names follow skopeo's where they overlap.
#pragma once

#include <string>

namespace imageinit::compose::registry {

struct RegistryOptions {
    std::string creds;         // --creds USER:PASS ("" = the auth file, else anonymous)
    std::string authfile;      // --authfile ("" = the usual locations)
    std::string cert_dir;      // --cert-dir
    bool tls_verify = true;    // --tls-verify=false: no certificate check, plain http allowed
    std::string platform;      // --platform OS/ARCH[/VARIANT] ("" = this machine)
    int retry_times = 3;       // --retry-times: per request, on 429/5xx/connection errors
    int jobs = 3;              // --jobs: layers downloaded at once
    long long limit_rate = 0;  // --limit-rate BYTES: per-connection receive cap (0 = none)
};

}  // namespace imageinit::compose::registry
