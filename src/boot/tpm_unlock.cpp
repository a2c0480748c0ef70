// The TPM2 stage of PERSIST's unlock (see tpm_unlock.h).
#include "boot/tpm_unlock.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "base/unique_fd.h"
#include "core/tpm_policy.h"
#include "os/luks_tokens.h"

namespace imageinit::boot {
namespace {

std::vector<uint8_t> hex_bytes(const std::string& hex) {
    return core::from_hex(hex).value_or(std::vector<uint8_t>());
}

Result<void> keep_copy(const std::string& path, const std::vector<uint8_t>& key) {
    (void)::unlink(path.c_str());
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400));
    if (!fd) return fail_errno("open", path);
    if (::write(fd.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size()))
        return fail_errno("write", path);
    return ok();
}

}  // namespace

Result<os::KeyStageResult> tpm_unlock(const os::CryptDevice& cd, const std::string& name,
                                      const TpmUnlockOptions& o) {
    os::KeyStageResult out;
    std::vector<core::TpmToken> tokens;
    bool malformed = false;
    for (const auto& t : os::read_tokens(cd, std::string(core::kTpmTokenType))) {
        auto parsed = core::parse_token_json(t.json);
        if (parsed)
            tokens.push_back(std::move(*parsed));
        else
            malformed = true;
    }
    // A header whose only TPM tokens are malformed is still a sealed header: keep the rule.
    if (tokens.empty() && malformed) tokens.push_back(core::TpmToken{});
    core::TpmDecision d = core::decide_tpm_unlock(tokens, o.slot, o.roothash, o.stage);
    if (d.plan == core::TpmPlan::kNoTokens) return out;
    if (d.plan == core::TpmPlan::kFailSlot)
        return fail(EKEYREJECTED, "TPM unseal failed: " + d.reason);
    if (d.matching.empty()) {
        out.failure = "TPM unseal failed: " + d.reason;
        return out;
    }

    auto t0 = std::chrono::steady_clock::now();
    auto tpm = os::Tpm2::open(o.interface);
    if (!tpm) {
        out.failure = "TPM unseal failed: " + tpm.error().message;
        return out;
    }
    // Same-boot fallback: every attempt measures its slot from zero (core/tpm_policy.h).
    auto measured = tpm->pcr_reset(core::kSlotPcr);
    if (measured) measured = tpm->pcr_extend(core::kSlotPcr, core::slot_measurement(o.roothash));
    if (!measured) {
        out.failure = "TPM unseal failed: " + measured.error().message;
        return out;
    }
    std::string last = "no token";
    for (size_t i : d.matching) {
        const auto& t = tokens[i];
        auto key = tpm->unseal({hex_bytes(t.tpm_public), hex_bytes(t.tpm_private)}, t.pcrs);
        if (!key) {
            last = key.error().message;
            continue;
        }
        if (auto r = os::activate_keyslot(cd, name, t.keyslot, key->bytes()); !r) {
            last = "the unsealed key: " + r.error().message;
            continue;
        }
        // Nothing later in this attempt (hooks) can unseal again.
        (void)tpm->pcr_extend(core::kSlotPcr, core::boot_done_measurement());
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - t0);
        std::string how = "TPM2 (slot " + o.slot +
                          (o.stage == core::TpmStage::kKexec ? ", kexec'd" : "") + "), key slot " +
                          std::to_string(t.keyslot) + ", " + std::to_string(ms.count()) + " ms";
        if (!o.key_copy.empty())
            if (auto kept = keep_copy(o.key_copy, key->bytes()); !kept)
                how += " (no key copy for install: " + kept.error().message + ")";
        out.how = how;
        return out;
    }
    out.failure = "TPM unseal failed: " + last;
    return out;
}

os::KeyStage tpm_key_stage(TpmUnlockOptions options) {
    return [options](const os::CryptDevice& cd, const std::string& name) {
        return tpm_unlock(cd, name, options);
    };
}

}  // namespace imageinit::boot
