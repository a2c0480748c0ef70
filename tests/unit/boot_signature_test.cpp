// The boot sequence with trusted certificates in the initramfs (contract §16): a slot without
// verity data goes through the verity step anyway and is refused there, with the reason, and
// the next candidate is tried in the same boot.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "boot/signature_check.h"
#include "boot_harness.h"

namespace imageinit::boot::testing {
namespace {

// A self-signed test certificate (PEM), made with openssl.
std::string test_certificate() {
    char tmpl[] = "/tmp/imageinit-bootsig-XXXXXX";
    std::filesystem::path dir = ::mkdtemp(tmpl);
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=vendor -keyout " +
        (dir / "k").string() + " -out " + (dir / "c").string() + " 2>/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream in(dir / "c");
    std::stringstream pem;
    pem << in.rdbuf();
    std::filesystem::remove_all(dir);
    return pem.str();
}

TEST(BootSignature, SlotsWithoutVerityAreRefusedWhenTheInitramfsTrustsCertificates) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    boot.fake.add_slot_file("b", bootable_image(kFullSpec));
    boot.set_record(make_record("a", {{"a", good()}, {"b", good()}}));
    boot.fake.put_file(kTrustFile, test_certificate());
    auto handover = boot.run();
    ASSERT_FALSE(handover);
    const auto& fb = boot.report().fallbacks;
    ASSERT_EQ(fb.size(), 2u);
    for (const auto& f : fb) {
        EXPECT_EQ(f.step, "verity");
        EXPECT_EQ(f.reason,
                  "signature of slot " + f.slot +
                      "'s root hash: no dm-verity data, and "
                      "this boot chain trusts only signed images (1 trusted certificate(s))");
    }
    // Nothing of either slot was mounted.
    for (const auto& line : boot.fake.log())
        EXPECT_EQ(line.find("/sysroot"), std::string::npos) << line;
}

TEST(BootSignature, WithoutTrustedCertificatesAnUnsignedSlotBoots) {
    FakeBoot boot;
    boot.fake.add_slot_file("a", bootable_image(kFullSpec));
    auto handover = boot.run();
    ASSERT_TRUE(handover) << handover.error().message;
    EXPECT_TRUE(boot.report().fallbacks.empty());
}

}  // namespace
}  // namespace imageinit::boot::testing
