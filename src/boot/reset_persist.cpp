// The reset executor (see reset_persist.h). The order is the crash-safety argument:
//  1. mark-started: the request records the partition's kind, label, UUID and stable id, so a
//     cut from here on resumes as that, even when the partition is left unrecognisable;
//  2. write-key (LUKS2): the new key is durable on the state partition before any header needs
//     it. A cut before luks-format leaves the old header without its key, but the request is
//     still there: the next boot formats again, with a key of its own;
//  3. luks-format, make-fs: each flushed before it returns;
//  4. clear-request, last: once it is gone the partition is complete and its key is on disk.
#include "boot/reset_persist.h"

#include <string.h>

#include "base/log.h"

namespace imageinit::boot {

Result<void> execute_reset(const core::ResetDecision& d, const std::string& device, ResetOps& ops,
                           const std::function<void(core::ResetOp)>& on_op) {
    std::string key;
    struct Wipe {  // the key never outlives the step in our memory
        std::string& k;
        ~Wipe() { ::explicit_bzero(k.data(), k.size()); }
    } wipe{key};
    for (core::ResetOp op : d.ops) {
        const std::string name = core::reset_op_name(op);
        if (on_op) on_op(op);
        Result<void> r = ok();
        switch (op) {
            case core::ResetOp::kMarkStarted:
                r = ops.write_request(core::encode_reset_request(core::ResetRequest{d.target}));
                break;
            case core::ResetOp::kWriteKey: {
                auto k = ops.new_key();
                if (!k) {
                    r = Unexpected(std::move(k).error());
                    break;
                }
                key = std::move(*k);
                r = ops.write_key(key);
                break;
            }
            case core::ResetOp::kLuksFormat:
                if (key.empty()) return fail(EINVAL, name + ": no key was written before it");
                r = ops.luks_format(device, d.target, key);
                break;
            case core::ResetOp::kMakeFs:
                r = ops.make_fs(device, d.target, key);
                break;
            case core::ResetOp::kClearRequest:
                r = ops.clear_request();
                break;
        }
        if (!r) return add_context(std::move(r), name);
    }
    return ok();
}

ResetStepResult reset_persist(ResetOps& ops, const ResetStepInput& in) {
    ResetStepResult out;
    out.device = in.device.value_or("");
    core::ResetInput input;
    input.cmdline = in.cmdline;
    auto text = ops.read_request();
    if (!text) {
        // Unreadable (a planted symlink or fifo): nothing is destroyed on its word.
        out.warning = "factory reset request unreadable, ignored: " + text.error().message;
        if (!in.cmdline) return out;
    } else if (*text) {
        auto parsed = core::parse_reset_request(**text);
        // A request we cannot parse still asks for a reset: done as a fresh one (the probe
        // decides the kind), the reason for it named in the journal.
        input.request = parsed ? *parsed : core::ResetRequest{};
        if (!parsed)
            out.warning = "factory reset request malformed (" + parsed.error().message +
                          "): treated as a new request";
    }
    if (!input.request && !input.cmdline) return out;
    if (in.device) {
        auto found = ops.identify(*in.device);
        if (found) input.found = *found;
    }
    core::ResetDecision d = core::decide_reset(input);
    if (!d.reset) {
        out.warning = d.refusal;
        return out;
    }
    std::string device = out.device;
    if (input.request && input.request->started) {
        // Resuming: the partition the request names, whatever its label says now.
        std::vector<std::string> found;
        if (d.target.device.starts_with("/")) {
            found.push_back(d.target.device);
        } else if (in.find_devices) {
            auto r = in.find_devices(d.target.device);
            if (r) found = *r;
        }
        if (found.size() != 1) {
            out.unusable = true;
            out.warning = "factory reset interrupted earlier cannot resume: '" + d.target.device +
                          "' matches " + std::to_string(found.size()) +
                          " devices; the persistent partition is not used this boot";
            return out;
        }
        device = found.front();
    }
    log::notice("factory reset of the persistent partition " + device + " (" +
                core::persist_kind_name(d.target.kind) + "): " + d.why);
    auto done = execute_reset(d, device, ops, [](core::ResetOp op) {
        log::info(std::string("reset-persist: ") + core::reset_op_name(op));
    });
    if (!done) {
        out.unusable = true;
        out.warning = "factory reset of the persistent partition " + device + " failed (" +
                      done.error().message +
                      "): it is not used this boot; the next boot tries again";
        return out;
    }
    out.reset = true;
    out.device = device;
    out.journal = "factory reset of PERSIST " + device + " (" +
                  core::persist_kind_name(d.target.kind) + "): " + d.why;
    return out;
}

}  // namespace imageinit::boot
