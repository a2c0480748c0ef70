// core/tpm_policy: known-answer values for the PCR and policy pre-computation (the same values
// a software TPM computes: tests/integration/tpm2_test.cpp), the token, and the decisions.
#include "core/tpm_policy.h"

#include <gtest/gtest.h>

using namespace imageinit::core;

namespace {

const std::string kRootA = "4f2a1c0de1d8c5b3a6e7f00112233445566778899aabbccddeeff00112233445";

TEST(Sha256, KnownAnswersAcrossThePaddingBoundaries) {
    struct Case {
        std::string in, hex;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {std::string(55, 'a'), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {std::string(56, 'a'), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {std::string(64, 'a'), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {std::string(119, 'a'), "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
    };
    for (const auto& c : cases) EXPECT_EQ(to_hex(sha256(c.in)), c.hex) << c.in.size();
}

TEST(TpmPolicy, SlotPcrAfterOneExtendIsKnownAnswer) {
    EXPECT_EQ(to_hex(slot_measurement(kRootA)),
              "1e522fd34f8a2311f8c8b5dfacb0f2d79d8652d86ef0f4105de005cff767f2cc");
    auto pcrs = expected_pcrs(kRootA, {});
    ASSERT_EQ(pcrs.size(), 2u);
    EXPECT_EQ(pcrs[0].index, kBootPhasePcr);
    EXPECT_EQ(pcrs[0].value, Sha256Digest{});
    EXPECT_EQ(pcrs[1].index, kSlotPcr);
    EXPECT_EQ(to_hex(pcrs[1].value),
              "d24df7f7397c09d24bd21670ca243ce9cf1e723a6bd703d7df94d85446a2a5b3");
    EXPECT_EQ(to_hex(boot_done_measurement()),
              "027602d5e6069e4e084c63908451fbd9dc09ea5589933002384ccc0b3a78381e");
}

TEST(TpmPolicy, RootHashCaseDoesNotChangeTheMeasurement) {
    std::string upper = kRootA;
    for (auto& c : upper) c = static_cast<char>(toupper(c));
    EXPECT_EQ(slot_measurement(upper + "\n"), slot_measurement(kRootA));
}

TEST(TpmPolicy, PolicyPcrDigestIsKnownAnswer) {
    auto d = policy_pcr_digest(expected_pcrs(kRootA, {}));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(to_hex(*d), "a5fe8ae438cb8d195747dba4e8c19b6c294767a5a7ea055e541c81b2cdba6748");
    Sha256Digest pcr7;
    pcr7.fill(0x11);
    auto d7 = policy_pcr_digest(expected_pcrs(kRootA, pcr7));
    ASSERT_TRUE(d7);
    EXPECT_EQ(to_hex(*d7), "4f1702bfa7ba19784d1569b643f771f40c5ed34a1f0651e6e8a7d9fcaa7b5c9e");
}

// The key of an image for the PID 1 of its own kernel, after imageinit's kexec hand-over:
// PCR 15 = one extend with "imageinit-kexec:" + root hash (values from Python's hashlib).
TEST(TpmPolicy, KexecStagePcr15AndPolicyAreKnownAnswers) {
    EXPECT_EQ(to_hex(kexec_measurement(kRootA)),
              "921a8dd69bde04df0654e92ee2077719ba9d1563b7dd0c389315c4be31ceccfd");
    auto pcrs = expected_pcrs(kRootA, {}, TpmStage::kKexec);
    ASSERT_EQ(pcrs.size(), 2u);
    EXPECT_EQ(pcrs[0].index, kBootPhasePcr);
    EXPECT_EQ(to_hex(pcrs[0].value),
              "80edc23460b7563e49e497f797100e7afb6bd1ca137a06d419abf5e0655b735d");
    EXPECT_EQ(pcrs[1].value, expected_pcrs(kRootA, {})[1].value);  // the same slot measurement
    auto d = policy_pcr_digest(pcrs);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(to_hex(*d), "c1ba75b6bcb15c969f8012f355441eea2bc37bb2cfc77712cf6eb1e17285f1da");
    // Another image's kexec hand-over leaves PCR 15 elsewhere: its key never matches this one.
    EXPECT_NE(expected_pcrs(std::string(64, 'b'), {}, TpmStage::kKexec)[0].value, pcrs[0].value);
    EXPECT_NE(kexec_measurement(kRootA), boot_done_measurement());
}

TEST(TpmPolicy, PolicyRefusesUnsortedRepeatedOrMissingPcrs) {
    Sha256Digest z{};
    EXPECT_FALSE(policy_pcr_digest({}));
    EXPECT_FALSE(policy_pcr_digest({{23, z}, {15, z}}));
    EXPECT_FALSE(policy_pcr_digest({{15, z}, {15, z}}));
    EXPECT_FALSE(policy_pcr_digest({{24, z}}));
}

TpmToken sample_token(const std::string& roothash = kRootA) {
    TpmToken t;
    t.roothash = roothash;
    t.pcrs = {15, 23};
    t.policy = "a5fe8ae438cb8d195747dba4e8c19b6c294767a5a7ea055e541c81b2cdba6748";
    t.tpm_public = "0011aa";
    t.tpm_private = "00ff";
    t.keyslot = 2;
    return t;
}

TEST(TpmToken, RoundTripsThroughItsJson) {
    auto t = sample_token();
    t.secure_boot = std::string(64, '1');
    auto json = token_json(t);
    EXPECT_NE(json.find("\"type\":\"imageinit-tpm2\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"keyslots\":[\"2\"]"), std::string::npos) << json;
    auto back = parse_token_json(json);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->roothash, t.roothash);
    EXPECT_EQ(back->pcrs, t.pcrs);
    EXPECT_EQ(back->secure_boot, t.secure_boot);
    EXPECT_EQ(back->policy, t.policy);
    EXPECT_EQ(back->tpm_public, t.tpm_public);
    EXPECT_EQ(back->tpm_private, t.tpm_private);
    EXPECT_EQ(back->keyslot, 2);
    EXPECT_EQ(back->stage, TpmStage::kFirst);
    EXPECT_EQ(json.find("stage"), std::string::npos) << json;  // as tokens were before kexec keys
    t.stage = TpmStage::kKexec;
    json = token_json(t);
    EXPECT_NE(json.find("\"stage\":\"kexec\""), std::string::npos) << json;
    back = parse_token_json(json);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->stage, TpmStage::kKexec);
}

TEST(TpmToken, MalformedTokensAreRefusedWithTheField) {
    std::string good = token_json(sample_token());
    auto with = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        s.replace(s.find(from), from.size(), to);
        return s;
    };
    struct Case {
        std::string json, needle;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{", "not a JSON object"},
        {with("imageinit-tpm2", "systemd-tpm2"), "type"},
        {with("[\"2\"]", "[]"), "keyslots"},
        {with("[\"2\"]", "[\"x\"]"), "key slot"},
        {with("\"roothash\":\"4f", "\"roothash\":\"zz"), "roothash"},
        {with("\"sha256\"", "\"sha1\""), "pcr-bank"},
        {with("[15,23]", "[15,99]"), "pcrs"},
        {with("\"0011aa\"", "\"0011a\""), "tpm2-public"},
        {with("\"tpm2-private\"", "\"other\""), "tpm2-private"},
        {with("\"policy\"", "\"stage\":\"later\",\"policy\""), "stage"},
        {with("\"policy\"", "\"stage\":1,\"policy\""), "stage"},
    };
    for (const auto& c : cases) {
        auto r = parse_token_json(c.json);
        ASSERT_FALSE(r) << c.json;
        EXPECT_NE(r.error().message.find(c.needle), std::string::npos)
            << c.json << " -> " << r.error().message;
    }
}

TEST(TpmUnlock, HeaderWithoutTokensKeepsTheKeyFileAndPassphrasePaths) {
    EXPECT_EQ(decide_tpm_unlock({}, "a", kRootA).plan, TpmPlan::kNoTokens);
}

TEST(TpmUnlock, ImageWrittenBehindImageinitsBackFailsTheSlot) {
    auto d = decide_tpm_unlock({sample_token()}, "b", std::string(64, 'b'));
    EXPECT_EQ(d.plan, TpmPlan::kFailSlot);
    EXPECT_NE(d.reason.find("no key is sealed to slot b's image"), std::string::npos) << d.reason;
}

TEST(TpmUnlock, SlotWithoutVerityFailsTheSlot) {
    auto d = decide_tpm_unlock({sample_token()}, "b", "");
    EXPECT_EQ(d.plan, TpmPlan::kFailSlot);
    EXPECT_NE(d.reason.find("no verity root hash"), std::string::npos) << d.reason;
}

TEST(TpmUnlock, EnrolledImageTriesEveryTokenSealedToIt) {
    std::string other(64, 'c');
    auto d = decide_tpm_unlock({sample_token(other), sample_token(), sample_token()}, "a",
                               "4F2A1C0DE1D8C5B3A6E7F00112233445566778899AABBCCDDEEFF00112233445");
    EXPECT_EQ(d.plan, TpmPlan::kUnseal);
    EXPECT_EQ(d.matching, (std::vector<size_t>{1, 2}));
}

TpmToken kexec_token(const std::string& roothash = kRootA) {
    TpmToken t = sample_token(roothash);
    t.stage = TpmStage::kKexec;
    return t;
}

TEST(TpmUnlock, EachBootStageTriesOnlyTheImagesKeysForThatStage) {
    std::vector<TpmToken> tokens = {sample_token(), kexec_token(),
                                    kexec_token(std::string(64, 'c'))};
    auto first = decide_tpm_unlock(tokens, "a", kRootA, TpmStage::kFirst);
    EXPECT_EQ(first.plan, TpmPlan::kUnseal);
    EXPECT_EQ(first.matching, std::vector<size_t>{0});
    auto kexec = decide_tpm_unlock(tokens, "a", kRootA, TpmStage::kKexec);
    EXPECT_EQ(kexec.plan, TpmPlan::kUnseal);
    EXPECT_EQ(kexec.matching, std::vector<size_t>{1});
}

TEST(TpmUnlock, KexecdBootOfAnImageEnrolledWithoutKexecKeysGoesToRecovery) {
    // Enrolled by an older imageinit: not the image's fault, so no failed attempt; the recovery
    // paths (key file, recovery key) follow with the reason.
    auto d = decide_tpm_unlock({sample_token()}, "a", kRootA, TpmStage::kKexec);
    EXPECT_EQ(d.plan, TpmPlan::kUnseal);
    EXPECT_TRUE(d.matching.empty());
    EXPECT_NE(d.reason.find("for a kexec'd boot stage"), std::string::npos) << d.reason;
    // A foreign image still fails its slot, kexec'd or not.
    auto foreign = decide_tpm_unlock({sample_token(), kexec_token()}, "b", std::string(64, 'b'),
                                     TpmStage::kKexec);
    EXPECT_EQ(foreign.plan, TpmPlan::kFailSlot);
}

TEST(TpmRetire, TokensOfImagesNoLongerInstalledAreRetired) {
    std::string gone(64, 'c');
    std::vector<TpmToken> tokens = {sample_token(gone), sample_token()};
    EXPECT_EQ(tokens_to_retire(tokens, {kRootA}), std::vector<size_t>{0});
    EXPECT_EQ(tokens_to_retire(tokens, {kRootA, gone}), std::vector<size_t>{});
    EXPECT_EQ(tokens_to_retire(tokens, {}), (std::vector<size_t>{0, 1}));
}

}  // namespace
