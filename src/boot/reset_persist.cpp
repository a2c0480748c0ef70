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

namespace imageinit::boot {

Result<void> execute_reset(const core::ResetDecision& d, const std::string& device,
                           ResetOps& ops) {
    std::string key;
    struct Wipe {  // the key never outlives the step in our memory
        std::string& k;
        ~Wipe() { ::explicit_bzero(k.data(), k.size()); }
    } wipe{key};
    for (core::ResetOp op : d.ops) {
        const std::string name = core::reset_op_name(op);
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

}  // namespace imageinit::boot
