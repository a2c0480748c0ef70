// Retry policy: which failures are transient, and the backoff between attempts.
#include "compose/registry/retry.h"

#include <algorithm>

namespace imageinit::compose::registry {

constexpr long kFirstDelayMs = 500;
constexpr long kMaxDelayMs = 30'000;

bool retryable_transport(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_COULDNT_RESOLVE_HOST:
            return true;
        default:
            return false;
    }
}

bool retryable_status(long status) {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

long backoff_ms(int attempt, std::string_view retry_after) {
    if (!retry_after.empty() && retry_after.size() <= 6 &&
        retry_after.find_first_not_of("0123456789") == std::string_view::npos) {
        long seconds = 0;
        for (char c : retry_after) seconds = seconds * 10 + (c - '0');
        return std::min(seconds * 1000, kMaxDelayMs);
    }
    long delay = kFirstDelayMs;
    for (int i = 1; i < attempt && delay < kMaxDelayMs; ++i) delay *= 2;
    return std::min(delay, kMaxDelayMs);
}

}  // namespace imageinit::compose::registry
