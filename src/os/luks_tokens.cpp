// LUKS2 tokens and key slots (see luks_tokens.h).
#include "os/luks_tokens.h"

namespace imageinit::os {
namespace {

constexpr int kMaxTokens = 32;  // LUKS2_TOKENS_MAX

const char* as_chars(const std::vector<uint8_t>& v) {
    return reinterpret_cast<const char*>(v.data());
}

}  // namespace

std::vector<LuksToken> read_tokens(const CryptDevice& cd, const std::string& type) {
    std::vector<LuksToken> out;
    for (int id = 0; id < kMaxTokens; ++id) {
        const char* t = nullptr;
        auto st = cd.api().crypt_token_status(cd.get(), id, &t);
        if (st == CRYPT_TOKEN_INVALID || st == CRYPT_TOKEN_INACTIVE || !t || type != t) continue;
        const char* json = nullptr;
        if (cd.api().crypt_token_json_get(cd.get(), id, &json) < 0 || !json) continue;
        out.push_back({id, json});
    }
    return out;
}

Result<int> add_token(const CryptDevice& cd, const std::string& json) {
    int r = cd.api().crypt_token_json_set(cd.get(), CRYPT_ANY_TOKEN, json.c_str());
    if (r < 0) return cd.error("crypt_token_json_set", "new token", r);
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
    if (r < 0) return cd.error("crypt_keyslot_add_by_passphrase", "new key slot", r);
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
    if (r < 0) return fail(EPERM, "the key opens no key slot");
    return r;
}

Result<void> activate_keyslot(const CryptDevice& cd, const std::string& name, int slot,
                              const std::vector<uint8_t>& key) {
    int r = cd.api().crypt_activate_by_passphrase(cd.get(), name.empty() ? nullptr : name.c_str(),
                                                  slot, as_chars(key), key.size(), 0);
    if (r < 0) return fail(EPERM, "the key does not open key slot " + std::to_string(slot));
    return ok();
}

}  // namespace imageinit::os
