// When a registry request is tried again, and after how long: 429, 5xx and connection-level
// failures are retried with exponential backoff (Retry-After honoured, both capped). Pure.
#pragma once

#include <curl/curl.h>

#include <string_view>

namespace imageinit::compose::registry {

// A transport failure worth another attempt (refused, reset, timed out, cut short).
bool retryable_transport(CURLcode code);
// An HTTP status worth another attempt.
bool retryable_status(long status);
// Milliseconds to wait before attempt `attempt` (1 = the first retry): 500 ms doubled each
// time, or the Retry-After seconds when the server sent them; never more than 30 s.
long backoff_ms(int attempt, std::string_view retry_after);

}  // namespace imageinit::compose::registry
