// The TPM2 operations imageinit needs, one ESAPI call sequence each: PCR reset/extend/read,
// seal a key to a policy digest, check a sealed object loads, unseal under a PolicyPCR session.
// No policy here: which PCRs and values is core/tpm_policy.h's decision.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::os {

struct Tpm2Api;

// A sha256-bank PCR value or digest.
using TpmDigest = std::array<uint8_t, 32>;

// Marshalled TPM2B_PUBLIC and TPM2B_PRIVATE of a sealed data object.
struct SealedKey {
    std::vector<uint8_t> tpm_public;
    std::vector<uint8_t> tpm_private;
};

// Key bytes that are wiped when dropped.
class SecretBytes {
  public:
    SecretBytes() = default;
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& o) noexcept : bytes_(std::move(o.bytes_)) {}
    ~SecretBytes();
    std::vector<uint8_t>& bytes() { return bytes_; }
    const std::vector<uint8_t>& bytes() const { return bytes_; }

  private:
    std::vector<uint8_t> bytes_;
};

class Tpm2 {
  public:
    static constexpr const char* kDefaultInterface = "device:/dev/tpmrm0";
    // INTERFACE: "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=P" (tpm2_lib.h).
    static Result<Tpm2> open(const std::string& interface = kDefaultInterface);
    Tpm2(Tpm2&&) noexcept;
    ~Tpm2();

    Result<void> pcr_reset(uint32_t pcr);
    Result<void> pcr_extend(uint32_t pcr, const TpmDigest& digest);
    Result<TpmDigest> pcr_read(uint32_t pcr);
    // Seals KEY under the owner hierarchy's ECC P-256 storage key (re-derived each time, so
    // nothing is persisted in the TPM); only a policy session with POLICY can unseal it.
    Result<SealedKey> seal(const TpmDigest& policy, const std::vector<uint8_t>& key);
    // What `install` can test before the reboot: the object loads under this TPM's storage key
    // and its authPolicy is POLICY.
    Result<void> check_sealed(const SealedKey& sealed, const TpmDigest& policy);
    // Unseals under PolicyPCR over PCRS (sha256 bank) with the PCRs' current values.
    Result<SecretBytes> unseal(const SealedKey& sealed, const std::vector<uint32_t>& pcrs);
    // The policy digest the TPM computes for PolicyPCR over PCRS with their current values
    // (a trial session): what the tests compare core::policy_pcr_digest with.
    Result<TpmDigest> trial_policy_pcr(const std::vector<uint32_t>& pcrs);

  private:
    struct State;
    explicit Tpm2(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

}  // namespace imageinit::os
