// os/tpm2 against a software TPM: the PCR values and policy digests core/tpm_policy computes
// are the ones a TPM computes, and a key sealed to a slot unseals only with that slot measured
// and before "boot done".
#include "os/tpm2.h"

#include <gtest/gtest.h>

#include "core/tpm_policy.h"
#include "swtpm_fixture.h"

using namespace imageinit;

namespace {

const std::string kRootA = "4f2a1c0de1d8c5b3a6e7f00112233445566778899aabbccddeeff00112233445";
const std::string kRootB = "0000000000000000000000000000000000000000000000000000000000000b0b";

class Tpm2Swtpm : public SwtpmFixture {
  protected:
    os::Tpm2 open() {
        auto t = os::Tpm2::open(interface());
        EXPECT_TRUE(t) << t.error().message;
        return std::move(*t);
    }
    // What a slot attempt does: reset the slot PCR, extend the slot's measurement.
    static void measure(os::Tpm2& tpm, const std::string& roothash) {
        ASSERT_TRUE(tpm.pcr_reset(core::kSlotPcr));
        ASSERT_TRUE(tpm.pcr_extend(core::kSlotPcr, core::slot_measurement(roothash)));
    }
    static std::vector<uint32_t> pcrs() { return {core::kBootPhasePcr, core::kSlotPcr}; }
};

TEST_F(Tpm2Swtpm, ExtendedSlotPcrIsThePrecomputedValue) {
    auto tpm = open();
    measure(tpm, kRootA);
    auto value = tpm.pcr_read(core::kSlotPcr);
    ASSERT_TRUE(value) << value.error().message;
    EXPECT_EQ(core::to_hex(*value), core::to_hex(core::expected_pcrs(kRootA, {}).back().value));
}

TEST_F(Tpm2Swtpm, TrialPolicyIsThePrecomputedDigest) {
    auto tpm = open();
    measure(tpm, kRootA);
    auto trial = tpm.trial_policy_pcr(pcrs());
    ASSERT_TRUE(trial) << trial.error().message;
    auto computed = core::policy_pcr_digest(core::expected_pcrs(kRootA, {}));
    ASSERT_TRUE(computed);
    EXPECT_EQ(core::to_hex(*trial), core::to_hex(*computed));
    // With PCR 7 bound as well (its value now, as enroll-tpm --bind-secure-boot records it).
    auto pcr7 = tpm.pcr_read(core::kSecureBootPcr);
    ASSERT_TRUE(pcr7);
    auto trial7 = tpm.trial_policy_pcr({core::kSecureBootPcr, core::kBootPhasePcr, core::kSlotPcr});
    ASSERT_TRUE(trial7);
    EXPECT_EQ(core::to_hex(*trial7),
              core::to_hex(*core::policy_pcr_digest(core::expected_pcrs(kRootA, *pcr7))));
}

TEST_F(Tpm2Swtpm, SealedKeyUnsealsOnlyWithItsSlotMeasuredAndBeforeBootDone) {
    auto tpm = open();
    const std::vector<uint8_t> key = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    auto policy = core::policy_pcr_digest(core::expected_pcrs(kRootA, {}));
    ASSERT_TRUE(policy);
    auto sealed = tpm.seal(*policy, key);  // sealed before slot a was ever measured
    ASSERT_TRUE(sealed) << sealed.error().message;
    ASSERT_TRUE(tpm.check_sealed(*sealed, *policy));

    measure(tpm, kRootB);
    auto wrong = tpm.unseal(*sealed, pcrs());
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().message.find("policy check failed"), std::string::npos)
        << wrong.error().message;

    measure(tpm, kRootA);  // the same-boot fallback: reset, measure the next slot
    auto right = tpm.unseal(*sealed, pcrs());
    ASSERT_TRUE(right) << right.error().message;
    EXPECT_EQ(right->bytes(), key);

    ASSERT_TRUE(tpm.pcr_extend(core::kBootPhasePcr, core::boot_done_measurement()));
    measure(tpm, kRootA);  // what root in the booted system could do: in vain after hand-over
    EXPECT_FALSE(tpm.unseal(*sealed, pcrs()));
}

TEST_F(Tpm2Swtpm, ClearedTpmCannotLoadTheSealedKey) {
    auto policy = core::policy_pcr_digest(core::expected_pcrs(kRootA, {}));
    os::SealedKey sealed;
    {
        auto tpm = open();
        auto s = tpm.seal(*policy, {42, 42, 42, 42});
        ASSERT_TRUE(s) << s.error().message;
        sealed = *s;
    }
    restart_blank();
    auto tpm = open();
    auto r = tpm.check_sealed(sealed, *policy);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("TPM2_Load"), std::string::npos) << r.error().message;
}

TEST_F(Tpm2Swtpm, NoTpmAtTheInterfaceIsAClearError) {
    auto t = os::Tpm2::open("device:/nonexistent/tpmrm0");
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("no TPM"), std::string::npos) << t.error().message;
}

}  // namespace
