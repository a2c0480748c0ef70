// SHA-256 (FIPS 180-4) as a pure function, for the TPM2 PCR and policy pre-computation
// (core/tpm_policy.h): PID 1 links no crypto library of its own (README.md, "Dependencies").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace imageinit::core {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string to_hex(const uint8_t* data, size_t size);
inline std::string to_hex(const Sha256Digest& d) { return to_hex(d.data(), d.size()); }

}  // namespace imageinit::core
