// TPM2 PCR/policy pre-computation, the sealed-key token, and the unlock decisions (see
// tpm_policy.h). Nothing here talks to a TPM: os/tpm2.cpp does, with these values.
#include "core/tpm_policy.h"

#include <json-c/json.h>

#include <algorithm>
#include <memory>

#include "core/json.h"

namespace imageinit::core {
namespace {

constexpr uint32_t kCcPolicyPcr = 0x0000017F;  // TPM_CC_PolicyPCR
constexpr uint16_t kAlgSha256 = 0x000B;        // TPM_ALG_SHA256
constexpr uint32_t kPcrCount = 24;             // PC Client: 24 PCRs, a 3-byte selection

struct PutJson {
    void operator()(json_object* o) const { json_object_put(o); }
};
using JsonPtr = std::unique_ptr<json_object, PutJson>;

void put_be(std::string& out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string bytes(const Sha256Digest& d) { return std::string(d.begin(), d.end()); }

Result<std::string> hex_field(json_object* root, const char* key, bool required) {
    json_object* v = nullptr;
    if (!json_object_object_get_ex(root, key, &v)) {
        if (required) return fail(EINVAL, std::string("token: no '") + key + "'");
        return std::string();
    }
    if (!json_object_is_type(v, json_type_string))
        return fail(EINVAL, std::string("token: '") + key + "' is not a string");
    std::string s = json_object_get_string(v);
    if (!from_hex(s)) return fail(EINVAL, std::string("token: '") + key + "' is not hex");
    return s;
}

}  // namespace

Result<std::vector<uint8_t>> from_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (hex.size() % 2) return fail(EINVAL, "odd number of hex digits");
    std::vector<uint8_t> out;
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return fail(EINVAL, "not a hex digit at " + std::to_string(i));
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return out;
}

Result<std::string> normalize_roothash(std::string_view hex) {
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.remove_suffix(1);
    auto raw = from_hex(hex);
    if (!raw || raw->size() < 16)
        return fail(EINVAL, "'" + std::string(hex) + "' is not a verity root hash (hex)");
    return to_hex(raw->data(), raw->size());
}

Sha256Digest slot_measurement(std::string_view roothash_hex) {
    std::string lower = normalize_roothash(roothash_hex).value_or(std::string(roothash_hex));
    return sha256("imageinit-slot:" + lower);
}

Sha256Digest boot_done_measurement() { return sha256("imageinit-boot-done"); }

Sha256Digest kexec_measurement(std::string_view roothash_hex) {
    std::string lower = normalize_roothash(roothash_hex).value_or(std::string(roothash_hex));
    return sha256("imageinit-kexec:" + lower);
}

Sha256Digest pcr_extend(const Sha256Digest& pcr, const Sha256Digest& digest) {
    return sha256(bytes(pcr) + bytes(digest));
}

std::vector<PcrValue> expected_pcrs(std::string_view roothash_hex,
                                    const std::optional<Sha256Digest>& secure_boot,
                                    TpmStage stage) {
    std::vector<PcrValue> out;
    if (secure_boot) out.push_back({kSecureBootPcr, *secure_boot});
    out.push_back({kBootPhasePcr, stage == TpmStage::kKexec
                                      ? pcr_extend(Sha256Digest{}, kexec_measurement(roothash_hex))
                                      : Sha256Digest{}});
    out.push_back({kSlotPcr, pcr_extend(Sha256Digest{}, slot_measurement(roothash_hex))});
    return out;
}

Result<Sha256Digest> policy_pcr_digest(const std::vector<PcrValue>& pcrs) {
    if (pcrs.empty()) return fail(EINVAL, "a PCR policy needs at least one PCR");
    uint8_t select[3] = {};
    std::string values;
    for (size_t i = 0; i < pcrs.size(); ++i) {
        if (pcrs[i].index >= kPcrCount)
            return fail(EINVAL, "PCR " + std::to_string(pcrs[i].index) + " does not exist");
        if (i && pcrs[i].index <= pcrs[i - 1].index)
            return fail(EINVAL, "PCRs must be sorted and distinct");
        select[pcrs[i].index / 8] |= static_cast<uint8_t>(1u << (pcrs[i].index % 8));
        values += bytes(pcrs[i].value);
    }
    std::string msg(32, '\0');  // policyDigest of a fresh session
    put_be(msg, kCcPolicyPcr, 4);
    put_be(msg, 1, 4);              // TPML_PCR_SELECTION.count
    put_be(msg, kAlgSha256, 2);     // .hash
    put_be(msg, sizeof select, 1);  // .sizeofSelect
    msg.append(reinterpret_cast<const char*>(select), sizeof select);
    msg += bytes(sha256(values));  // pcrDigest
    return sha256(msg);
}

std::string token_json(const TpmToken& t) {
    JsonWriter w;
    w.begin_object();
    w.key("type").value(kTpmTokenType);
    w.key("keyslots").begin_array().value(std::to_string(t.keyslot)).end_array();
    w.key("roothash").value(t.roothash);
    w.key("pcr-bank").value("sha256");
    w.key("pcrs").begin_array();
    for (auto p : t.pcrs) w.value(static_cast<uint64_t>(p));
    w.end_array();
    if (!t.secure_boot.empty()) w.key("pcr7").value(t.secure_boot);
    if (t.stage == TpmStage::kKexec) w.key("stage").value("kexec");
    w.key("policy").value(t.policy);
    w.key("tpm2-public").value(t.tpm_public);
    w.key("tpm2-private").value(t.tpm_private);
    w.end_object();
    return w.str();
}

Result<TpmToken> parse_token_json(std::string_view json) {
    JsonPtr root(json_tokener_parse(std::string(json).c_str()));
    if (!root || !json_object_is_type(root.get(), json_type_object))
        return fail(EINVAL, "token: not a JSON object");
    json_object* v = nullptr;
    if (!json_object_object_get_ex(root.get(), "type", &v) ||
        json_object_get_string(v) != std::string(kTpmTokenType))
        return fail(EINVAL, "token: type is not '" + std::string(kTpmTokenType) + "'");
    TpmToken t;
    if (!json_object_object_get_ex(root.get(), "keyslots", &v) ||
        !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 1)
        return fail(EINVAL, "token: 'keyslots' must name exactly one key slot");
    std::string slot = json_object_get_string(json_object_array_get_idx(v, 0));
    if (slot.empty() || slot.size() > 3 || !std::all_of(slot.begin(), slot.end(), ::isdigit))
        return fail(EINVAL, "token: key slot '" + slot + "' is not a number");
    t.keyslot = std::stoi(slot);
    auto roothash = TRY(hex_field(root.get(), "roothash", true));
    t.roothash = TRY_CTX(normalize_roothash(roothash), "token");
    if (!json_object_object_get_ex(root.get(), "pcr-bank", &v) ||
        json_object_get_string(v) != std::string("sha256"))
        return fail(EINVAL, "token: 'pcr-bank' is not 'sha256'");
    if (!json_object_object_get_ex(root.get(), "pcrs", &v) ||
        !json_object_is_type(v, json_type_array))
        return fail(EINVAL, "token: no 'pcrs' array");
    for (size_t i = 0; i < json_object_array_length(v); ++i) {
        json_object* p = json_object_array_get_idx(v, i);
        if (!json_object_is_type(p, json_type_int) || json_object_get_int64(p) < 0 ||
            json_object_get_int64(p) >= kPcrCount)
            return fail(EINVAL, "token: 'pcrs' holds a value that is not a PCR index");
        t.pcrs.push_back(static_cast<uint32_t>(json_object_get_int64(p)));
    }
    t.secure_boot = TRY(hex_field(root.get(), "pcr7", false));
    if (json_object_object_get_ex(root.get(), "stage", &v)) {
        if (!json_object_is_type(v, json_type_string) ||
            json_object_get_string(v) != std::string("kexec"))
            return fail(EINVAL, "token: 'stage' is not 'kexec'");
        t.stage = TpmStage::kKexec;
    }
    t.policy = TRY(hex_field(root.get(), "policy", true));
    t.tpm_public = TRY(hex_field(root.get(), "tpm2-public", true));
    t.tpm_private = TRY(hex_field(root.get(), "tpm2-private", true));
    return t;
}

TpmDecision decide_tpm_unlock(const std::vector<TpmToken>& tokens, const std::string& slot,
                              const std::string& roothash, TpmStage stage) {
    if (tokens.empty()) return {TpmPlan::kNoTokens, {}, ""};
    if (roothash.empty())
        return {TpmPlan::kFailSlot,
                {},
                "slot " + slot +
                    " has no verity root hash to measure, and PERSIST is sealed "
                    "to measured images only"};
    std::string wanted = normalize_roothash(roothash).value_or(roothash);
    TpmDecision d{TpmPlan::kUnseal, {}, ""};
    bool enrolled = false;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i].roothash != wanted) continue;
        enrolled = true;
        if (tokens[i].stage == stage) d.matching.push_back(i);
    }
    if (!enrolled)
        return {TpmPlan::kFailSlot,
                {},
                "no key is sealed to slot " + slot + "'s image (root hash " + wanted +
                    "): it was not installed with imageinit install"};
    // Enrolled, but not for this stage (enrolled before kexec keys existed): not the image's
    // fault, so the recovery paths, as for a TPM that cannot unseal.
    if (d.matching.empty())
        d.reason = "no key is sealed to slot " + slot + "'s image for a " +
                   (stage == TpmStage::kKexec ? "kexec'd" : "first") +
                   " boot stage (enrolled by an older imageinit: run imageinit enroll-tpm)";
    return d;
}

std::vector<size_t> tokens_to_retire(const std::vector<TpmToken>& tokens,
                                     const std::set<std::string>& installed_roothashes) {
    std::set<std::string> installed;
    for (const auto& h : installed_roothashes) installed.insert(normalize_roothash(h).value_or(h));
    std::vector<size_t> out;
    for (size_t i = 0; i < tokens.size(); ++i)
        if (!installed.count(tokens[i].roothash)) out.push_back(i);
    return out;
}

}  // namespace imageinit::core
