// The TPM2 side of PERSIST's key, as pure functions (docs/integrity.md, "TPM2"): what PID 1
// extends into which PCR, the PCR values and PolicyPCR digest a key is sealed to (so `install`
// can seal to a slot before it ever booted), the LUKS2 token that carries a sealed key, and the
// decisions of the boot and of `mark-good` over those tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "core/sha256.h"

namespace imageinit::core {

// Resettable at locality 0 (TCG PC Client Platform Firmware Profile, PCR 16 and 23): reset and
// extended with the slot's measurement at the start of every slot attempt, so a fallback in the
// same boot measures the next slot from zero.
constexpr uint32_t kSlotPcr = 23;
// Not resettable: zero from power-on until PID 1 extends "boot done" into it at hand-over. A
// key sealed to its zero value cannot be unsealed by anything the booted image runs.
constexpr uint32_t kBootPhasePcr = 15;
// Secure Boot policy (firmware-measured): optional, binds the key to the boot chain.
constexpr uint32_t kSecureBootPcr = 7;

constexpr std::string_view kTpmTokenType = "imageinit-tpm2";

// What a slot attempt extends into kSlotPcr: SHA-256 of "imageinit-slot:" and the lower-case hex
// verity root hash that dm-verity verified the image with.
Sha256Digest slot_measurement(std::string_view roothash_hex);
// What hand-over extends into kBootPhasePcr and kSlotPcr.
Sha256Digest boot_done_measurement();
// What a hand-over by kexec to the verified image ROOTHASH's own kernel extends into
// kBootPhasePcr instead: "imageinit-kexec:" and the lower-case hex root hash. PCRs survive
// kexec, so PID 1 of that kernel (the image's own initramfs) finds PCR 15 at exactly this one
// extend, which nothing but imageinit's PID 1 handing over to that image produces.
Sha256Digest kexec_measurement(std::string_view roothash_hex);

// Which PID 1 a key is sealed for (docs/integrity.md, "A slot with its own kernel").
enum class TpmStage {
    kFirst,  // started by the boot loader: PCR 15 still zero
    kKexec,  // started by kexec from imageinit's PID 1: PCR 15 = one extend of kexec_measurement
};
// TPM2_PCR_Extend on the sha256 bank: SHA-256(PCR || DIGEST).
Sha256Digest pcr_extend(const Sha256Digest& pcr, const Sha256Digest& digest);

struct PcrValue {
    uint32_t index;
    Sha256Digest value;
};
// The PCR values a key for ROOTHASH is sealed to, sorted by index: PCR 15 zero (kKexec: after
// one extend with ROOTHASH's kexec_measurement), PCR 23 after one extend with the slot's
// measurement, and PCR 7 when SECURE_BOOT (its value now) is given.
std::vector<PcrValue> expected_pcrs(std::string_view roothash_hex,
                                    const std::optional<Sha256Digest>& secure_boot,
                                    TpmStage stage = TpmStage::kFirst);
// TPM2_PolicyPCR's policy digest over PCRS (sha256 bank, indexes < 24, sorted, no repeats)
// starting from the empty policy: SHA-256(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION ||
// SHA-256(values in index order)) (TPM 2.0 Part 3, 23.7).
Result<Sha256Digest> policy_pcr_digest(const std::vector<PcrValue>& pcrs);

// A sealed key in the LUKS2 header (token JSON documented in docs/integrity.md).
struct TpmToken {
    std::string roothash;               // lower-case hex: the image this key unseals for
    std::vector<uint32_t> pcrs;         // sorted
    std::string secure_boot;            // hex PCR 7 value sealed to, "" when unbound
    std::string policy;                 // hex policy digest (== the sealed object's authPolicy)
    std::string tpm_public;             // hex of the marshalled TPM2B_PUBLIC
    std::string tpm_private;            // hex of the marshalled TPM2B_PRIVATE
    int keyslot = -1;                   // the LUKS2 key slot the unsealed key opens
    TpmStage stage = TpmStage::kFirst;  // "stage":"kexec" in the JSON; absent: kFirst
};
std::string token_json(const TpmToken& token);
// Errors name what is wrong: "token: 'roothash' is not hex".
Result<TpmToken> parse_token_json(std::string_view json);
Result<std::string> normalize_roothash(std::string_view hex);

// What a slot attempt does about PERSIST when the header carries TPM tokens.
enum class TpmPlan {
    kNoTokens,  // not sealed to a TPM: key file / passphrase as before
    kFailSlot,  // no key is sealed to this image: a failed attempt (same-boot fallback)
    kUnseal,    // try the tokens in `matching`; if none unseals: recovery paths, then degraded
};
struct TpmDecision {
    TpmPlan plan;
    std::vector<size_t> matching;  // indexes into the tokens
    // kFailSlot: "no key is sealed to slot b's image (...)"; kUnseal with no matching token
    // (the image is enrolled, but not for this STAGE): why, for the recovery paths.
    std::string reason;
};
// ROOTHASH: the hash dm-verity verified the slot with ("" for a slot without verity). STAGE:
// this PID 1's (a kexec'd one tries the image's kKexec tokens only).
TpmDecision decide_tpm_unlock(const std::vector<TpmToken>& tokens, const std::string& slot,
                              const std::string& roothash, TpmStage stage = TpmStage::kFirst);
// Tokens whose image is no longer in any slot (`mark-good` retires them).
std::vector<size_t> tokens_to_retire(const std::vector<TpmToken>& tokens,
                                     const std::set<std::string>& installed_roothashes);

Result<std::vector<uint8_t>> from_hex(std::string_view hex);

}  // namespace imageinit::core
