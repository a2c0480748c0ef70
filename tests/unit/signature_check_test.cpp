// boot::check_slot_signature against the fake platform: the files of the initramfs and the
// state partition decide, libcrypto verifies (test certificates made with openssl).
#include "boot/signature_check.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "boot/boot_sequence.h"
#include "fake_platform.h"
#include "os/root_hash_signature.h"

namespace imageinit::boot {
namespace {

namespace fs = std::filesystem;

const std::string kHash = "3f9a1c5be0d7a2f4c18e6b93d05a7c2e4f8b1d6a09c3e5f7a2b4d6c8e0f1a3b5";
const std::string kSig = "/run/imageinit/state/slots/b.img.roothash.p7s";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class SignatureCheck : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/imageinit-sigcheck-XXXXXX";
        fs::path dir = ::mkdtemp(tmpl);
        for (const char* who : {"vendor", "other"}) {
            std::string base = (dir / who).string();
            std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=" +
                              std::string(who) + " -keyout " + base + ".key -out " + base +
                              ".crt 2>/dev/null";
            ASSERT_EQ(std::system(cmd.c_str()), 0);
        }
        vendor_cert_ = slurp(dir / "vendor.crt");
        vendor_sig_ = *os::sign_root_hash(kHash, slurp(dir / "vendor.key"), vendor_cert_);
        other_sig_ = *os::sign_root_hash(kHash, slurp(dir / "other.key"), slurp(dir / "other.crt"));
        fs::remove_all(dir);
    }
    void SetUp() override {
        auto m = fake.mount_path("LABEL=STATE", paths::kStateMount, "ext4", 0, "");
        ASSERT_TRUE(m);
        mounted = std::move(*m);  // the fake unmounts when the undo goes
        state = Dir{UniqueFd(), paths::kStateMount};
    }
    Result<std::string> check(const std::string& roothash = kHash) {
        return check_slot_signature(fake, "b", roothash, state);
    }
    testing::FakePlatform fake;
    Undo mounted;
    Dir state;
    static inline std::string vendor_cert_, vendor_sig_, other_sig_;
};

TEST_F(SignatureCheck, WithoutTrustedCertificatesNothingIsRequired) {
    EXPECT_FALSE(signatures_required(fake));
    auto r = check("");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "");
}

TEST_F(SignatureCheck, SignedSlotPassesAndTheTrustIsPublished) {
    fake.put_file(kTrustFile, vendor_cert_);
    fake.put_file(kSig, vendor_sig_);
    EXPECT_TRUE(signatures_required(fake));
    auto r = check(kHash + "\n");  // as read from a .roothash sidecar
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "root hash signed by '/CN=vendor'");
    EXPECT_EQ(fake.file(kPublishedTrustFile), vendor_cert_);
}

TEST_F(SignatureCheck, RefusalsNameTheSlotAndTheReason) {
    fake.put_file(kTrustFile, vendor_cert_);
    auto r = check("");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "signature of slot b's root hash: no dm-verity data, and this boot chain trusts "
              "only signed images (1 trusted certificate(s))");
    r = check();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "signature of slot b's root hash: missing "
              "('slots/b.img.roothash.p7s' does not exist)");
    fake.put_file(kSig, other_sig_);
    r = check();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "signature of slot b's root hash: signed by none of the 1 "
              "trusted certificate(s)");
    fake.put_file(kSig, vendor_sig_);
    std::string other_hash = kHash;
    other_hash[0] = '4';
    r = check(other_hash);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("signature of slot b's root hash: signature by "
                                      "'/CN=vendor' does not match root hash 4f9a",
                                      0),
              0u)
        << r.error().message;
    EXPECT_FALSE(fake.file(kPublishedTrustFile));
}

TEST_F(SignatureCheck, UnreadableTrustFileRefusesEverySlot) {
    fake.put_file(kTrustFile, "garbage");
    fake.put_file(kSig, vendor_sig_);
    auto r = check();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "signature of slot b's root hash: '/etc/imageinit/trust.pem': "
              "no PEM certificate in it");
}

}  // namespace
}  // namespace imageinit::boot
