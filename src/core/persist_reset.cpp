// The reset request's text form and the reset decision (see persist_reset.h).
//
//   imageinit-reset-request 1
//   started luks2                 only once a boot began recreating the partition, then:
//   device PARTUUID=1234-...        how to find it again
//   label PERSIST                   optional
//   uuid 0b1c...                    optional
#include "core/persist_reset.h"

namespace imageinit::core {
namespace {

constexpr std::string_view kMagic = "imageinit-reset-request 1";
constexpr size_t kMaxValue = 512;

bool plain_value(std::string_view v) {
    if (v.size() > kMaxValue) return false;
    for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

Unexpected line_error(size_t lineno, const std::string& what) {
    return fail(EINVAL, "reset-request:" + std::to_string(lineno) + ": " + what);
}

}  // namespace

const char* persist_kind_name(PersistKind kind) {
    return kind == PersistKind::kLuks2 ? "luks2" : "ext4";
}

const char* reset_op_name(ResetOp op) {
    switch (op) {
        case ResetOp::kMarkStarted:
            return "mark-started";
        case ResetOp::kWriteKey:
            return "write-key";
        case ResetOp::kLuksFormat:
            return "luks-format";
        case ResetOp::kMakeFs:
            return "make-fs";
        case ResetOp::kClearRequest:
            return "clear-request";
    }
    return "?";
}

std::string encode_reset_request(const ResetRequest& r) {
    std::string out = std::string(kMagic) + "\n";
    if (!r.started) return out;
    const ResetTarget& t = *r.started;
    out += std::string("started ") + persist_kind_name(t.kind) + "\n";
    out += "device " + t.device + "\n";
    if (!t.label.empty()) out += "label " + t.label + "\n";
    if (!t.uuid.empty()) out += "uuid " + t.uuid + "\n";
    return out;
}

Result<ResetRequest> parse_reset_request(std::string_view text) {
    if (text.size() > kResetRequestMaxBytes)
        return fail(EINVAL, "reset-request: larger than " + std::to_string(kResetRequestMaxBytes) +
                                " bytes");
    ResetRequest r;
    size_t lineno = 0;
    bool has_device = false;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        if (nl == std::string_view::npos) return line_error(lineno + 1, "no newline at the end");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        ++lineno;
        if (lineno == 1) {
            if (line != kMagic)
                return line_error(1,
                                  "not a reset request (expected '" + std::string(kMagic) + "')");
            continue;
        }
        size_t sp = line.find(' ');
        std::string key(line.substr(0, sp));
        std::string value(sp == std::string_view::npos ? "" : line.substr(sp + 1));
        if (value.empty() || !plain_value(value))
            return line_error(lineno, "'" + key + "' needs a value without control characters");
        if (key == "started") {
            if (r.started) return line_error(lineno, "'started' given twice");
            r.started.emplace();
            if (value == "luks2")
                r.started->kind = PersistKind::kLuks2;
            else if (value != "ext4")
                return line_error(lineno, "unknown kind '" + value + "' (ext4 or luks2)");
            continue;
        }
        if (!r.started) return line_error(lineno, "'" + key + "' before 'started'");
        std::string* field = key == "device"  ? &r.started->device
                             : key == "label" ? &r.started->label
                             : key == "uuid"  ? &r.started->uuid
                                              : nullptr;
        if (!field) return line_error(lineno, "unknown key '" + key + "'");
        if (!field->empty()) return line_error(lineno, "'" + key + "' given twice");
        *field = value;
        has_device = has_device || key == "device";
    }
    if (lineno == 0) return line_error(1, "empty file");
    if (r.started && !has_device) return line_error(lineno, "'started' without a 'device' line");
    return r;
}

ResetDecision decide_reset(const ResetInput& in) {
    ResetDecision d;
    if (!in.request && !in.cmdline) return d;
    d.why = in.request ? "requested by 'imageinit reset'" : "imageinit.reset=persist";
    if (in.request && in.request->started) {
        // A cut during an earlier reset: the partition may be half made and unrecognisable,
        // so it is found and recreated from what the request recorded, never from a probe.
        d.reset = true;
        d.why = "resuming a reset a power cut interrupted";
        d.target = *in.request->started;
    } else if (!in.found) {
        d.refusal = "factory reset " + d.why +
                    " not done: no persistent partition found (the request stays)";
        return d;
    } else {
        const PersistFound& f = *in.found;
        if (f.fstype == "crypto_LUKS") {
            d.target.kind = PersistKind::kLuks2;
        } else if (f.fstype == "ext4") {
            d.target.kind = PersistKind::kExt4;
        } else {
            d.refusal = "factory reset " + d.why + " not done: " + f.device + " holds '" +
                        f.fstype + "', not ext4 or LUKS2 (the request stays)";
            return d;
        }
        d.reset = true;
        d.target.device = f.stable_id.empty() ? f.device : f.stable_id;
        d.target.label = f.label;
        d.target.uuid = f.uuid;
        d.ops.push_back(ResetOp::kMarkStarted);
    }
    // The key is durable before the header that needs it exists; the request goes last.
    if (d.target.kind == PersistKind::kLuks2) {
        d.ops.push_back(ResetOp::kWriteKey);
        d.ops.push_back(ResetOp::kLuksFormat);
    }
    d.ops.push_back(ResetOp::kMakeFs);
    d.ops.push_back(ResetOp::kClearRequest);
    return d;
}

}  // namespace imageinit::core
