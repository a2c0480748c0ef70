// The boot is a short list of named steps. The runner times each one, logs it once (a success at
// info with its duration, a failure at error with the reason), keeps the record for the boot
// report. It logs every failure of a step outside a slot attempt; a slot step's failure is
// returned as a StepFailure and logged once by the boot sequence, with its fallback.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "boot/platform.h"

namespace imageinit::boot {

// Why a slot attempt failed: the step, its errno (0 for a parse or policy error) and the message,
// each on its own so the fallback, the record and the report need not parse a prefixed string.
struct StepFailure {
    std::string step;
    int code = 0;
    std::string message;
};

struct StepRecord {
    std::string name;
    std::string slot;  // empty for steps that are not about one slot
    uint32_t ms = 0;
    bool ok = true;
    std::string error;
};

// The error for the exception being handled (call it only inside a catch block): std::bad_alloc,
// std::length_error or anything else that escapes a step is that step's failure, so a slot
// attempt fails with it and the boot falls back instead of unwinding PID 1 (issue 19).
Error current_exception_error();

class StepRunner {
  public:
    using Now = std::function<Clock::time_point()>;
    // before_step: called with the step name before it runs (imageinit.break=STEP uses it).
    explicit StepRunner(Now now = Clock::now, std::function<void(const std::string&)> before = {})
        : now_(std::move(now)), before_(std::move(before)) {}

    template <typename T>
    Result<T> run(const std::string& name, const std::string& slot,
                  const std::function<Result<T>()>& fn) {
        if (before_) before_(name);
        auto start = now_();
        Result<T> r = guarded(fn);
        finish(name, slot, start, r ? nullptr : &r.error());
        if (!r) return Unexpected(with_context(std::move(r).error(), "step " + name));
        return r;
    }

    // A step of a slot attempt: timed and recorded like run(), but a failure comes back as a
    // StepFailure (nullopt: the step succeeded) and is not logged here: the caller logs it once,
    // with the fallback it causes.
    std::optional<StepFailure> run_slot_step(const std::string& name, const std::string& slot,
                                             const std::function<Result<void>()>& fn);

    const std::vector<StepRecord>& records() const { return records_; }
    Clock::time_point now() const { return now_(); }  // the injected clock
    uint32_t total_ms() const;

  private:
    template <typename T>
    static Result<T> guarded(const std::function<Result<T>()>& fn) {
        try {
            return fn();
        } catch (...) {
            return Unexpected(current_exception_error());
        }
    }
    void finish(const std::string& name, const std::string& slot, Clock::time_point start,
                const Error* error, bool log_failure = true);
    Now now_;
    std::function<void(const std::string&)> before_;
    std::vector<StepRecord> records_;
};

}  // namespace imageinit::boot
