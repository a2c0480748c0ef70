// TPM2 operations over ESAPI (see tpm2.h). Every object and session this file creates is
// flushed before the call returns: nothing stays in the TPM between calls.
#include "os/tpm2.h"

#include <string.h>

#include <cstdio>
#include <functional>

#include "os/tpm2_lib.h"

namespace imageinit::os {
namespace {

std::string rc_text(TSS2_RC rc) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", rc);
    std::string s = std::string("TPM error ") + buf;
    // The ones a user meets (TPM 2.0 Part 2, 6.6): a PCR value that is not the sealed one, an
    // object from another TPM (or a TPM that was cleared), the lockout.
    TSS2_RC base = rc & 0xfff;
    if ((base & 0x3f) == (TPM2_RC_POLICY_FAIL & 0x3f) && (base & TPM2_RC_FMT1))
        s += ": policy check failed (PCR values differ from the sealed ones)";
    else if ((base & 0x3f) == (TPM2_RC_INTEGRITY & 0x3f) && (base & TPM2_RC_FMT1))
        s += ": the sealed object does not belong to this TPM (cleared or replaced?)";
    else if (base == TPM2_RC_LOCKOUT)
        s += ": the TPM is in dictionary-attack lockout";
    return s;
}

Unexpected tpm_fail(const char* call, TSS2_RC rc) {
    return fail(EIO, std::string(call) + ": " + rc_text(rc));
}

TPML_PCR_SELECTION selection(const std::vector<uint32_t>& pcrs) {
    TPML_PCR_SELECTION sel = {};
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    for (auto p : pcrs)
        sel.pcrSelections[0].pcrSelect[p / 8] |= static_cast<uint8_t>(1u << (p % 8));
    return sel;
}

// The TCG "SRK" template (TCG TPM v2.0 Provisioning Guidance, 7.5.1): an ECC P-256 restricted
// decryption key; the same template gives the same key every time under the same owner seed.
TPM2B_PUBLIC srk_template() {
    TPM2B_PUBLIC t = {};
    t.publicArea.type = TPM2_ALG_ECC;
    t.publicArea.nameAlg = TPM2_ALG_SHA256;
    t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    auto& ecc = t.publicArea.parameters.eccDetail;
    ecc.symmetric.algorithm = TPM2_ALG_AES;
    ecc.symmetric.keyBits.aes = 128;
    ecc.symmetric.mode.aes = TPM2_ALG_CFB;
    ecc.scheme.scheme = TPM2_ALG_NULL;
    ecc.curveID = TPM2_ECC_NIST_P256;
    ecc.kdf.scheme = TPM2_ALG_NULL;
    return t;
}

}  // namespace

SecretBytes::~SecretBytes() {
    if (!bytes_.empty()) ::explicit_bzero(bytes_.data(), bytes_.size());
}

struct Tpm2::State {
    const Tpm2Api* api = nullptr;
    TSS2_TCTI_CONTEXT* tcti = nullptr;
    ESYS_CONTEXT* ctx = nullptr;
    ~State() {
        if (ctx) api->Esys_Finalize(&ctx);
        tcti_free(tcti);
    }
    // Flushes HANDLE when the scope ends.
    struct Flush {
        State* s;
        ESYS_TR h;
        ~Flush() {
            if (h != ESYS_TR_NONE) (void)s->api->Esys_FlushContext(s->ctx, h);
        }
    };
    Result<ESYS_TR> primary() {
        TPM2B_SENSITIVE_CREATE sensitive = {};
        TPM2B_PUBLIC tmpl = srk_template();
        TPM2B_DATA outside = {};
        TPML_PCR_SELECTION none = {};
        ESYS_TR h = ESYS_TR_NONE;
        TSS2_RC rc = api->Esys_CreatePrimary(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                             ESYS_TR_NONE, &sensitive, &tmpl, &outside, &none, &h,
                                             nullptr, nullptr, nullptr, nullptr);
        if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_CreatePrimary (storage key)", rc);
        return h;
    }
    Result<ESYS_TR> load(ESYS_TR parent, const SealedKey& sealed) {
        TPM2B_PUBLIC pub = {};
        TPM2B_PRIVATE priv = {};
        size_t off = 0;
        if (api->Tss2_MU_TPM2B_PUBLIC_Unmarshal(sealed.tpm_public.data(), sealed.tpm_public.size(),
                                                &off, &pub) != TSS2_RC_SUCCESS)
            return fail(EINVAL, "the sealed key's public area is malformed");
        off = 0;
        if (api->Tss2_MU_TPM2B_PRIVATE_Unmarshal(sealed.tpm_private.data(),
                                                 sealed.tpm_private.size(), &off,
                                                 &priv) != TSS2_RC_SUCCESS)
            return fail(EINVAL, "the sealed key's private area is malformed");
        ESYS_TR h = ESYS_TR_NONE;
        TSS2_RC rc = api->Esys_Load(ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                    &priv, &pub, &h);
        if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_Load (sealed key)", rc);
        return h;
    }
    // A policy (or trial) session; salted with SALT_KEY when given, so the unsealed key
    // crosses the bus encrypted (response parameter encryption, AES-128-CFB).
    Result<ESYS_TR> policy_session(TPM2_SE type, ESYS_TR salt_key,
                                   const std::vector<uint32_t>& pcrs) {
        TPMT_SYM_DEF sym = {};
        sym.algorithm = TPM2_ALG_NULL;
        if (salt_key != ESYS_TR_NONE) {
            sym.algorithm = TPM2_ALG_AES;
            sym.keyBits.aes = 128;
            sym.mode.aes = TPM2_ALG_CFB;
        }
        ESYS_TR session = ESYS_TR_NONE;
        TSS2_RC rc = api->Esys_StartAuthSession(ctx, salt_key, ESYS_TR_NONE, ESYS_TR_NONE,
                                                ESYS_TR_NONE, ESYS_TR_NONE, nullptr, type, &sym,
                                                TPM2_ALG_SHA256, &session);
        if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_StartAuthSession", rc);
        TPM2B_DIGEST current = {};  // empty: the TPM uses the PCRs' current values
        TPML_PCR_SELECTION sel = selection(pcrs);
        rc = api->Esys_PolicyPCR(ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current,
                                 &sel);
        if (rc != TSS2_RC_SUCCESS) {
            (void)api->Esys_FlushContext(ctx, session);
            return tpm_fail("TPM2_PolicyPCR", rc);
        }
        return session;
    }
};

Tpm2::Tpm2(std::unique_ptr<State> s) : s_(std::move(s)) {}
Tpm2::Tpm2(Tpm2&&) noexcept = default;
Tpm2::~Tpm2() = default;

Result<Tpm2> Tpm2::open(const std::string& interface) {
    auto s = std::make_unique<State>();
    s->api = TRY(tpm2_api());
    s->tcti = TRY(tcti_open(interface));
    TSS2_RC rc = s->api->Esys_Initialize(&s->ctx, s->tcti, nullptr);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("Esys_Initialize", rc);
    return Tpm2(std::move(s));
}

Result<void> Tpm2::pcr_reset(uint32_t pcr) {
    TSS2_RC rc = s_->api->Esys_PCR_Reset(s_->ctx, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
                                         ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(("TPM2_PCR_Reset of PCR " + std::to_string(pcr)).c_str(), rc);
    return ok();
}

Result<void> Tpm2::pcr_extend(uint32_t pcr, const TpmDigest& digest) {
    TPML_DIGEST_VALUES values = {};
    values.count = 1;
    values.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(values.digests[0].digest.sha256, digest.data(), digest.size());
    TSS2_RC rc = s_->api->Esys_PCR_Extend(s_->ctx, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
                                          ESYS_TR_NONE, ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(("TPM2_PCR_Extend of PCR " + std::to_string(pcr)).c_str(), rc);
    return ok();
}

Result<TpmDigest> Tpm2::pcr_read(uint32_t pcr) {
    TPML_PCR_SELECTION sel = selection({pcr});
    TPML_DIGEST* values = nullptr;
    TSS2_RC rc = s_->api->Esys_PCR_Read(s_->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
                                        nullptr, nullptr, &values);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_PCR_Read", rc);
    TpmDigest out{};
    bool good = values && values->count == 1 && values->digests[0].size == out.size();
    if (good) memcpy(out.data(), values->digests[0].buffer, out.size());
    s_->api->Esys_Free(values);
    if (!good)
        return fail(EIO, "TPM2_PCR_Read: no sha256 value for PCR " + std::to_string(pcr) +
                             " (is the sha256 bank allocated?)");
    return out;
}

Result<SealedKey> Tpm2::seal(const TpmDigest& policy, const std::vector<uint8_t>& key) {
    TPM2B_SENSITIVE_CREATE sensitive = {};
    if (key.empty() || key.size() > sizeof sensitive.sensitive.data.buffer)
        return fail(EINVAL, "a sealed key must be 1.." +
                                std::to_string(sizeof sensitive.sensitive.data.buffer) + " bytes");
    sensitive.sensitive.data.size = static_cast<UINT16>(key.size());
    memcpy(sensitive.sensitive.data.buffer, key.data(), key.size());
    TPM2B_PUBLIC tmpl = {};
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    // No userWithAuth: the policy is the only way to use it.
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
    tmpl.publicArea.authPolicy.size = static_cast<UINT16>(policy.size());
    memcpy(tmpl.publicArea.authPolicy.buffer, policy.data(), policy.size());
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    TPM2B_DATA outside = {};
    TPML_PCR_SELECTION none = {};
    ESYS_TR parent = TRY(s_->primary());
    State::Flush flush{s_.get(), parent};
    TPM2B_PRIVATE* priv = nullptr;
    TPM2B_PUBLIC* pub = nullptr;
    TSS2_RC rc = s_->api->Esys_Create(s_->ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                      &sensitive, &tmpl, &outside, &none, &priv, &pub, nullptr,
                                      nullptr, nullptr);
    ::explicit_bzero(&sensitive, sizeof sensitive);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_Create (sealed key)", rc);
    SealedKey out;
    out.tpm_public.resize(sizeof(TPM2B_PUBLIC));
    out.tpm_private.resize(sizeof(TPM2B_PRIVATE));
    size_t pub_len = 0, priv_len = 0;
    TSS2_RC m1 = s_->api->Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out.tpm_public.data(),
                                                       out.tpm_public.size(), &pub_len);
    TSS2_RC m2 = s_->api->Tss2_MU_TPM2B_PRIVATE_Marshal(priv, out.tpm_private.data(),
                                                        out.tpm_private.size(), &priv_len);
    s_->api->Esys_Free(priv);
    s_->api->Esys_Free(pub);
    if (m1 != TSS2_RC_SUCCESS || m2 != TSS2_RC_SUCCESS)
        return fail(EIO, "marshalling the sealed key failed");
    out.tpm_public.resize(pub_len);
    out.tpm_private.resize(priv_len);
    return out;
}

Result<void> Tpm2::check_sealed(const SealedKey& sealed, const TpmDigest& policy) {
    TPM2B_PUBLIC pub = {};
    size_t off = 0;
    if (s_->api->Tss2_MU_TPM2B_PUBLIC_Unmarshal(sealed.tpm_public.data(), sealed.tpm_public.size(),
                                                &off, &pub) != TSS2_RC_SUCCESS)
        return fail(EINVAL, "the sealed key's public area is malformed");
    const auto& ap = pub.publicArea.authPolicy;
    if (ap.size != policy.size() || memcmp(ap.buffer, policy.data(), policy.size()) != 0)
        return fail(EINVAL, "the sealed key's policy is not the one computed for the slot");
    ESYS_TR parent = TRY(s_->primary());
    State::Flush flush{s_.get(), parent};
    ESYS_TR item = TRY(s_->load(parent, sealed));
    State::Flush flush_item{s_.get(), item};
    return ok();
}

Result<SecretBytes> Tpm2::unseal(const SealedKey& sealed, const std::vector<uint32_t>& pcrs) {
    ESYS_TR parent = TRY(s_->primary());
    State::Flush flush{s_.get(), parent};
    ESYS_TR item = TRY(s_->load(parent, sealed));
    State::Flush flush_item{s_.get(), item};
    ESYS_TR session = TRY(s_->policy_session(TPM2_SE_POLICY, parent, pcrs));
    State::Flush flush_session{s_.get(), session};
    TSS2_RC rc = s_->api->Esys_TRSess_SetAttributes(s_->ctx, session, TPMA_SESSION_ENCRYPT,
                                                    TPMA_SESSION_ENCRYPT);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("Esys_TRSess_SetAttributes", rc);
    TPM2B_SENSITIVE_DATA* data = nullptr;
    rc = s_->api->Esys_Unseal(s_->ctx, item, session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_Unseal", rc);
    SecretBytes out;
    out.bytes().assign(data->buffer, data->buffer + data->size);
    ::explicit_bzero(data, sizeof *data);
    s_->api->Esys_Free(data);
    return out;
}

Result<TpmDigest> Tpm2::trial_policy_pcr(const std::vector<uint32_t>& pcrs) {
    ESYS_TR session = TRY(s_->policy_session(TPM2_SE_TRIAL, ESYS_TR_NONE, pcrs));
    State::Flush flush{s_.get(), session};
    TPM2B_DIGEST* digest = nullptr;
    TSS2_RC rc = s_->api->Esys_PolicyGetDigest(s_->ctx, session, ESYS_TR_NONE, ESYS_TR_NONE,
                                               ESYS_TR_NONE, &digest);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("TPM2_PolicyGetDigest", rc);
    TpmDigest out{};
    bool good = digest->size == out.size();
    if (good) memcpy(out.data(), digest->buffer, out.size());
    s_->api->Esys_Free(digest);
    if (!good) return fail(EIO, "TPM2_PolicyGetDigest: not a sha256 digest");
    return out;
}

}  // namespace imageinit::os
