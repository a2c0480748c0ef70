// core::signature_check: which slots need a verified signature, and the refusal wording.
#include "core/signature_policy.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace imageinit::core {
namespace {

SignatureFacts facts(size_t certs, bool verity, bool sig) {
    return SignatureFacts{certs, verity, sig, "slots/b.img.roothash.p7s"};
}

TEST(SignaturePolicy, Table) {
    struct Row {
        SignatureFacts f;
        bool ok;
        SignatureCheck check;
        std::string error;
    } rows[] = {
        // Without trusted certificates nothing changes, signed or not, verity or not.
        {facts(0, false, false), true, SignatureCheck::kNotRequired, ""},
        {facts(0, true, false), true, SignatureCheck::kNotRequired, ""},
        {facts(0, true, true), true, SignatureCheck::kNotRequired, ""},
        {facts(1, true, true), true, SignatureCheck::kUserspace, ""},
        {facts(2, true, true), true, SignatureCheck::kUserspace, ""},
        {facts(1, true, false),
         false,
         {},
         "signature of slot b's root hash: missing ('slots/b.img.roothash.p7s' does not exist)"},
        // A signature file without verity proves nothing about an image read unverified.
        {facts(1, false, true),
         false,
         {},
         "signature of slot b's root hash: no dm-verity data, and this boot chain trusts only "
         "signed images (1 trusted certificate(s))"},
        {facts(3, false, false),
         false,
         {},
         "signature of slot b's root hash: no dm-verity data, and this boot chain trusts only "
         "signed images (3 trusted certificate(s))"},
    };
    for (const auto& r : rows) {
        auto got = signature_check(signature_subject_slot("b"), r.f);
        ASSERT_EQ(bool(got), r.ok) << r.error;
        if (got) {
            EXPECT_EQ(*got, r.check);
        } else {
            EXPECT_EQ(got.error().code, EKEYREJECTED);
            EXPECT_EQ(got.error().message, r.error);
        }
    }
}

TEST(SignaturePolicy, ImageSubjectNamesTheFile) {
    auto got = signature_check(signature_subject_image("new.img"), facts(1, true, false));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().message.rfind("signature of the root hash of 'new.img': missing", 0), 0u);
}

}  // namespace
}  // namespace imageinit::core
