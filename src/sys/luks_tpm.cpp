// TPM2-sealed LUKS2 keys (see luks_tpm.h).
#include "sys/luks_tpm.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "sys/unique_fd.h"

namespace imageinit::sys {
namespace {

constexpr int kMaxTokens = 32;  // LUKS2_TOKENS_MAX

std::vector<uint8_t> hex_bytes(const std::string& hex) {
    return core::from_hex(hex).value_or(std::vector<uint8_t>());
}

const char* as_chars(const std::vector<uint8_t>& v) {
    return reinterpret_cast<const char*>(v.data());
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

std::vector<LuksTpmToken> read_tpm_tokens(const CryptDevice& cd, std::vector<std::string>* skipped) {
    std::vector<LuksTpmToken> out;
    for (int id = 0; id < kMaxTokens; ++id) {
        const char* type = nullptr;
        auto st = cd.api().crypt_token_status(cd.get(), id, &type);
        if (st == CRYPT_TOKEN_INVALID || st == CRYPT_TOKEN_INACTIVE || !type) continue;
        if (std::string(type) != core::kTpmTokenType) continue;
        const char* json = nullptr;
        if (cd.api().crypt_token_json_get(cd.get(), id, &json) < 0 || !json) continue;
        auto token = core::parse_token_json(json);
        if (!token) {
            if (skipped) skipped->push_back("token " + std::to_string(id) + ": " +
                                            token.error().message);
            continue;
        }
        out.push_back({id, std::move(*token)});
    }
    return out;
}

Result<int> add_tpm_token(const CryptDevice& cd, const core::TpmToken& token) {
    int r = cd.api().crypt_token_json_set(cd.get(), CRYPT_ANY_TOKEN, core::token_json(token).c_str());
    if (r < 0) return cd.error("crypt_token_json_set", "imageinit-tpm2", r);
    return r;
}

Result<void> remove_token(const CryptDevice& cd, int id) {
    int r = cd.api().crypt_token_json_set(cd.get(), id, nullptr);
    if (r < 0) return cd.error("crypt_token_json_set", "token " + std::to_string(id), r);
    return ok();
}

Result<int> add_keyslot(const CryptDevice& cd, const std::vector<uint8_t>& existing,
                        const std::vector<uint8_t>& new_key, KeyKind kind) {
    struct crypt_pbkdf_type pbkdf = {};
    if (kind == KeyKind::kMachine) {
        pbkdf.type = CRYPT_KDF_PBKDF2;
        pbkdf.hash = "sha256";
        pbkdf.iterations = 1000;
    } else {
        pbkdf.type = CRYPT_KDF_ARGON2ID;
        pbkdf.iterations = 4;
        pbkdf.max_memory_kb = 64 * 1024;
        pbkdf.parallel_threads = 1;
    }
    pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
    int r = cd.api().crypt_set_pbkdf_type(cd.get(), &pbkdf);
    if (r < 0) return cd.error("crypt_set_pbkdf_type", pbkdf.type, r);
    r = cd.api().crypt_keyslot_add_by_passphrase(cd.get(), CRYPT_ANY_SLOT, as_chars(existing),
                                                 existing.size(), as_chars(new_key),
                                                 new_key.size());
    if (r < 0) return cd.error("crypt_keyslot_add_by_passphrase", "PERSIST", r);
    return r;
}

Result<void> destroy_keyslot(const CryptDevice& cd, int slot) {
    int r = cd.api().crypt_keyslot_destroy(cd.get(), slot);
    if (r < 0) return cd.error("crypt_keyslot_destroy", "key slot " + std::to_string(slot), r);
    return ok();
}

Result<int> keyslot_of(const CryptDevice& cd, const std::vector<uint8_t>& key) {
    int r = cd.api().crypt_activate_by_passphrase(cd.get(), nullptr, CRYPT_ANY_SLOT, as_chars(key),
                                                  key.size(), 0);
    if (r < 0) return fail(EPERM, "the key opens no key slot of PERSIST");
    return r;
}

Result<TpmUnlockResult> tpm_unlock(const CryptDevice& cd, const std::string& name,
                                   const TpmUnlockOptions& o) {
    TpmUnlockResult out;
    std::vector<std::string> skipped;
    auto tokens = read_tpm_tokens(cd, &skipped);
    std::vector<core::TpmToken> plain;
    for (const auto& t : tokens) plain.push_back(t.token);
    // A header whose only TPM tokens are malformed is still a sealed header: keep the rule.
    if (plain.empty() && !skipped.empty()) plain.push_back(core::TpmToken{});
    core::TpmDecision d = core::decide_tpm_unlock(plain, o.slot, o.roothash);
    if (d.plan == core::TpmPlan::kNoTokens) return out;
    if (d.plan == core::TpmPlan::kFailSlot)
        return fail(EKEYREJECTED, "TPM unseal failed: " + d.reason);

    auto t0 = std::chrono::steady_clock::now();
    auto tpm = Tpm2::open(o.interface);
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
        const auto& t = plain[i];
        SealedKey sealed{hex_bytes(t.tpm_public), hex_bytes(t.tpm_private)};
        auto key = tpm->unseal(sealed, t.pcrs);
        if (!key) {
            last = key.error().message;
            continue;
        }
        int r = cd.api().crypt_activate_by_passphrase(cd.get(), name.empty() ? nullptr : name.c_str(), t.keyslot,
                                                      as_chars(key->bytes()),
                                                      key->bytes().size(), 0);
        if (r < 0) {
            last = "the unsealed key does not open key slot " + std::to_string(t.keyslot);
            continue;
        }
        // Nothing later in this attempt (hooks, a shell) can unseal again.
        (void)tpm->pcr_extend(core::kSlotPcr, core::boot_done_measurement());
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - t0);
        std::string how = "TPM2 (slot " + o.slot + "), key slot " + std::to_string(t.keyslot) +
                          ", " + std::to_string(ms.count()) + " ms";
        if (!o.key_copy.empty())
            if (auto kept = keep_copy(o.key_copy, key->bytes()); !kept)
                how += " (no key copy for install: " + kept.error().message + ")";
        out.how = how;
        return out;
    }
    out.failure = "TPM unseal failed: " + last;
    return out;
}

}  // namespace imageinit::sys
