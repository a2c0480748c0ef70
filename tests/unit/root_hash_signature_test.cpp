// os::sign_root_hash / verify_root_hash (libcrypto, dlopen'ed) with known answers: a signature
// verifies, a tampered root hash, another signer or a truncated file is refused, and the format
// is the one `openssl smime` (systemd's documented signing command) writes and reads.
#include "os/root_hash_signature.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace imageinit::os {
namespace {

namespace fs = std::filesystem;

const std::string kHash = "3f9a1c5be0d7a2f4c18e6b93d05a7c2e4f8b1d6a09c3e5f7a2b4d6c8e0f1a3b5";
const std::string kOtherHash = "3f9a1c5be0d7a2f4c18e6b93d05a7c2e4f8b1d6a09c3e5f7a2b4d6c8e0f1a3b6";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void spit(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

// Two self-signed RSA test certificates, made once (the test must not depend on fixed keys).
class RootHashSignature : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/imageinit-sig-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        for (const char* who : {"vendor", "other"}) {
            std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=" +
                              std::string(who) + " -keyout " + (dir_ / who).string() +
                              ".key -out " + (dir_ / who).string() + ".crt 2>/dev/null";
            ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        }
    }
    static void TearDownTestSuite() { fs::remove_all(dir_); }
    static std::string key(const char* who) { return slurp(dir_ / (std::string(who) + ".key")); }
    static std::string cert(const char* who) { return slurp(dir_ / (std::string(who) + ".crt")); }
    static inline fs::path dir_;
};

TEST_F(RootHashSignature, SignedRootHashVerifies) {
    auto p7s = sign_root_hash(kHash, key("vendor"), cert("vendor"));
    ASSERT_TRUE(p7s) << p7s.error().message;
    auto signer = verify_root_hash(kHash, *p7s, {cert("vendor")});
    ASSERT_TRUE(signer) << signer.error().message;
    EXPECT_EQ(*signer, "/CN=vendor");
}

TEST_F(RootHashSignature, TamperedRootHashIsRefused) {
    auto p7s = sign_root_hash(kHash, key("vendor"), cert("vendor"));
    ASSERT_TRUE(p7s);
    auto r = verify_root_hash(kOtherHash, *p7s, {cert("vendor")});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_NE(r.error().message.find("does not match root hash " + kOtherHash), std::string::npos)
        << r.error().message;
}

TEST_F(RootHashSignature, SignatureOfAnotherCertificateIsRefused) {
    auto p7s = sign_root_hash(kHash, key("other"), cert("other"));
    ASSERT_TRUE(p7s);
    auto r = verify_root_hash(kHash, *p7s, {cert("vendor")});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EKEYREJECTED);
    EXPECT_EQ(r.error().message, "signed by none of the 1 trusted certificate(s)");
}

TEST_F(RootHashSignature, AnyOfSeveralTrustedCertificatesVerifies) {
    // Key rotation: the initramfs trusts the old and the new certificate for a while.
    auto p7s = sign_root_hash(kHash, key("other"), cert("other"));
    ASSERT_TRUE(p7s);
    auto signer = verify_root_hash(kHash, *p7s, {cert("vendor"), cert("other")});
    ASSERT_TRUE(signer) << signer.error().message;
    EXPECT_EQ(*signer, "/CN=other");
    auto both = verify_root_hash(kHash, *p7s, {cert("vendor") + cert("other")});
    EXPECT_TRUE(both) << both.error().message;
}

TEST_F(RootHashSignature, TruncatedSignatureIsRefused) {
    auto p7s = sign_root_hash(kHash, key("vendor"), cert("vendor"));
    ASSERT_TRUE(p7s);
    for (size_t n : {size_t(0), size_t(1), p7s->size() / 2, p7s->size() - 1}) {
        auto r = verify_root_hash(kHash, p7s->substr(0, n), {cert("vendor")});
        ASSERT_FALSE(r) << n;
        EXPECT_EQ(r.error().code, EBADMSG);
        EXPECT_EQ(r.error().message,
                  "not a DER PKCS#7 signature (" + std::to_string(n) + " bytes)");
    }
}

TEST_F(RootHashSignature, FlippedSignatureByteIsRefused) {
    auto p7s = sign_root_hash(kHash, key("vendor"), cert("vendor"));
    ASSERT_TRUE(p7s);
    std::string bad = *p7s;
    bad[bad.size() - 10] ^= 0x01;  // inside the RSA signature value at the end
    auto r = verify_root_hash(kHash, bad, {cert("vendor")});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBADMSG);
}

TEST_F(RootHashSignature, KeyOfAnotherCertificateIsRefusedWhenSigning) {
    auto r = sign_root_hash(kHash, key("other"), cert("vendor"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "the key does not belong to the certificate '/CN=vendor'");
}

TEST_F(RootHashSignature, NotACertificateIsNamed) {
    auto r = verify_root_hash(kHash, "x", {"not pem"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBADMSG);  // the signature is looked at first
    auto p7s = sign_root_hash(kHash, key("vendor"), cert("vendor"));
    ASSERT_TRUE(p7s);
    r = verify_root_hash(kHash, *p7s, {cert("vendor"), "not pem"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "trusted certificate 2: no PEM certificate in it");
}

// The format systemd documents for NAME.roothash.p7s: `openssl smime -sign -nocerts -noattr
// -binary -in roothash.txt -inkey KEY -signer CERT -outform der` over the hex text, no newline.
TEST_F(RootHashSignature, OpensslSmimeSignatureVerifies) {
    spit(dir_ / "hash.txt", kHash);
    std::string cmd = "openssl smime -sign -nocerts -noattr -binary -in " +
                      (dir_ / "hash.txt").string() + " -inkey " + (dir_ / "vendor.key").string() +
                      " -signer " + (dir_ / "vendor.crt").string() + " -outform der -out " +
                      (dir_ / "smime.p7s").string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto signer = verify_root_hash(kHash, slurp(dir_ / "smime.p7s"), {cert("vendor")});
    ASSERT_TRUE(signer) << signer.error().message;
}

TEST_F(RootHashSignature, SignatureVerifiesWithOpensslSmime) {
    auto p7s = sign_root_hash(kHash, key("vendor"), cert("vendor"));
    ASSERT_TRUE(p7s);
    spit(dir_ / "ours.p7s", *p7s);
    spit(dir_ / "hash.txt", kHash);
    std::string verify = "openssl smime -verify -binary -inform der -noverify -nointern -in " +
                         (dir_ / "ours.p7s").string() + " -content " +
                         (dir_ / "hash.txt").string() + " -certfile " +
                         (dir_ / "vendor.crt").string() + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(verify.c_str()), 0) << verify;
    spit(dir_ / "hash.txt", kHash + "\n");  // the newline of a .roothash file is not signed
    EXPECT_NE(std::system(verify.c_str()), 0);
}

}  // namespace
}  // namespace imageinit::os
