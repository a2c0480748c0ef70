// Step timing and the one log line per step (see step_runner.h).
#include "boot/step_runner.h"

#include <new>
#include <stdexcept>

namespace imageinit::boot {

std::optional<StepFailure> StepRunner::run_slot_step(const std::string& name,
                                                     const std::string& slot,
                                                     const std::function<Result<void>()>& fn) {
    if (before_) before_(name);
    auto start = now_();
    Result<void> r = guarded(fn);
    finish(name, slot, start, r ? nullptr : &r.error(), false);
    if (r) return std::nullopt;
    return StepFailure{name, r.error().code, r.error().message};
}

void StepRunner::finish(const std::string& name, const std::string& slot, Clock::time_point start,
                        const Error* error, bool log_failure) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now_() - start).count();
    StepRecord rec{name, slot, static_cast<uint32_t>(ms < 0 ? 0 : ms), error == nullptr,
                   error ? error->message : std::string()};
    std::string who = slot.empty() ? "" : "slot " + slot + ": ";
    if (error) {
        if (log_failure) log::error(who + "step " + name + " failed: " + error->message);
    } else {
        log::info(who + "step " + name + " done in " + std::to_string(rec.ms) + " ms");
    }
    records_.push_back(std::move(rec));
}

Error current_exception_error() {
    try {
        throw;
    } catch (const std::bad_alloc& e) {
        return Error{ENOMEM, std::string("internal error: out of memory (") + e.what() + ")"};
    } catch (const std::exception& e) {
        return Error{ENOTRECOVERABLE, std::string("internal error: ") + e.what()};
    } catch (...) {
        return Error{ENOTRECOVERABLE, "internal error: unknown exception"};
    }
}

uint32_t StepRunner::total_ms() const {
    uint32_t total = 0;
    for (const auto& r : records_) total += r.ms;
    return total;
}

}  // namespace imageinit::boot
