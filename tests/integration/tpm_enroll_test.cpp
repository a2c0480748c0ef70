// `imageinit enroll-tpm` and `mark-good` on a LUKS2 file with a software TPM, and the TPM stage
// of the PID 1 unlock (boot::tpm_unlock, check-only: the host has no device-mapper): the key
// unseals for the enrolled image only, a foreign image's slot is rejected, the printed recovery
// key opens the volume, and mark-good retires the keys of images no longer installed.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "boot/tpm_unlock.h"
#include "core/tpm_policy.h"
#include "os/luks_tokens.h"
#include "os/process.h"
#include "swtpm_fixture.h"

using namespace imageinit;
namespace fs = std::filesystem;

namespace {

const std::string kRootA = "4f2a1c0de1d8c5b3a6e7f00112233445566778899aabbccddeeff00112233445";
const std::string kRootB = "b0b0000000000000000000000000000000000000000000000000000000000b0b";

void write(const fs::path& p, const std::string& s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << s;
}

class TpmEnroll : public SwtpmFixture {
  protected:
    void SetUp() override {
        SwtpmFixture::SetUp();
        if (IsSkipped()) return;
        bin_ = std::getenv("IMAGEINIT") ? std::getenv("IMAGEINIT") : "";
        if (bin_.empty() || ::access("/usr/sbin/cryptsetup", X_OK) != 0)
            GTEST_SKIP() << "needs the imageinit binary (IMAGEINIT) and cryptsetup";
        char tmpl[] = "/tmp/imageinit-tpm-enroll-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        write(dir_ / "machine.key", "0123456789abcdef0123456789abcdef");
        write(dir_ / "state/slots/a.img.roothash", kRootA + "\n");
        write(dir_ / "run/slot", "a\n");
        fs::create_directories(dir_ / "persist");
        persist_ = (dir_ / "persist.luks").string();
        std::ofstream(persist_).close();
        fs::resize_file(persist_, 32 << 20);
        auto r = os::run_process({"/usr/sbin/cryptsetup", "luksFormat", "--batch-mode", "--type",
                                  "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
                                  "--key-file", (dir_ / "machine.key").string(), persist_},
                                 {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, std::chrono::seconds(60));
        ASSERT_TRUE(r && r->exit_code == 0) << "luksFormat failed";
    }
    void TearDown() override {
        if (!dir_.empty()) fs::remove_all(dir_);
        SwtpmFixture::TearDown();
    }
    os::ProcessResult imageinit(std::vector<std::string> args) {
        std::vector<std::string> argv = {bin_};
        argv.insert(argv.end(), args.begin(), args.end());
        for (const char* o :
             {"--state-dir", "state", "--run-dir", "run", "--persist-dir", "persist"})
            argv.push_back(o[0] == '-' ? std::string(o) : (dir_ / o).string());
        auto r = os::run_process(argv,
                                 {"IMAGEINIT_PERSIST_DEVICE=" + persist_,
                                  "IMAGEINIT_TPM=" + interface(), "PATH=/usr/sbin:/usr/bin"},
                                 std::chrono::seconds(120), 64 << 10);
        EXPECT_TRUE(r) << r.error().message;
        return r ? *r : os::ProcessResult{};
    }
    os::CryptDevice header() {
        auto cd = os::CryptDevice::open(persist_);
        EXPECT_TRUE(cd);
        EXPECT_EQ(cd->api().crypt_load(cd->get(), CRYPT_LUKS2, nullptr), 0);
        return std::move(*cd);
    }
    Result<os::KeyStageResult> unlock(const std::string& slot, const std::string& roothash,
                                      core::TpmStage stage = core::TpmStage::kFirst) {
        auto cd = header();
        boot::TpmUnlockOptions o;
        o.interface = interface();
        o.slot = slot;
        o.roothash = roothash;
        o.stage = stage;
        return boot::tpm_unlock(cd, "", o);  // "": check the key, activate nothing
    }
    // What PID 1 extends into PCR 15 at a hand-over (boot::tpm_close_boot).
    void extend_boot_phase(const core::Sha256Digest& measurement) {
        auto tpm = os::Tpm2::open(interface());
        ASSERT_TRUE(tpm) << tpm.error().message;
        auto r = tpm->pcr_extend(core::kBootPhasePcr, measurement);
        ASSERT_TRUE(r) << r.error().message;
    }
    bool unseals(const std::string& slot, const std::string& roothash, core::TpmStage stage) {
        auto r = unlock(slot, roothash, stage);
        EXPECT_TRUE(r) << r.error().message;  // never a failed attempt: both images are enrolled
        return r && r->how;
    }
    std::string bin_;
    fs::path dir_;
    std::string persist_;
};

TEST_F(TpmEnroll, EnrolledImageUnsealsForeignImageFailsItsSlotRecoveryKeyOpens) {
    auto r =
        imageinit({"enroll-tpm", "--key-file", (dir_ / "machine.key").string(), "--slot", "a"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.output, m, std::regex("([0-9a-f]{4}(-[0-9a-f]{4}){7})")))
        << r.output;
    const std::string recovery = m[1];
    struct stat st;
    ASSERT_EQ(::stat((dir_ / "run/tpm.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0400u);

    auto a = unlock("a", kRootA);
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(a->how) << a->failure;
    EXPECT_NE(a->how->find("TPM2 (slot a)"), std::string::npos) << *a->how;

    auto b = unlock("b", kRootB);  // written into slot b behind imageinit's back
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code, EKEYREJECTED);
    EXPECT_NE(b.error().message.find("TPM unseal failed: no key is sealed to slot b"),
              std::string::npos)
        << b.error().message;

    auto cd = header();
    EXPECT_TRUE(os::keyslot_of(cd, std::vector<uint8_t>(recovery.begin(), recovery.end())));
}

// A slot with its own kernel (docs/integrity.md, "A slot with its own kernel"): the PID 1 that
// imageinit kexec'd into image a's kernel unseals with a's kexec key, and only there: not before
// the hand-over, not after a hand-over to another image, not once it handed over itself.
TEST_F(TpmEnroll, KexecdPid1UnsealsOnlyAfterTheHandoverToItsOwnImage) {
    write(dir_ / "state/slots/b.img.roothash", kRootB + "\n");
    for (const char* slot : {"b", "a"})  // both proven: enroll-tpm seals to both images
        ASSERT_EQ(imageinit({"mark-good", "--no-checks", "--slot", slot}).exit_code, 0);
    auto r = imageinit({"enroll-tpm", "--key-file", (dir_ / "machine.key").string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    {
        auto cd = header();
        EXPECT_EQ(os::read_tokens(cd, "imageinit-tpm2").size(), 4u);  // 2 images x 2 stages
    }
    using core::TpmStage;
    EXPECT_TRUE(unseals("a", kRootA, TpmStage::kFirst));
    EXPECT_FALSE(unseals("a", kRootA, TpmStage::kKexec));  // PCR 15 still zero

    extend_boot_phase(core::kexec_measurement(kRootB));  // imageinit kexecs into b's kernel
    EXPECT_FALSE(unseals("a", kRootA, TpmStage::kKexec));
    EXPECT_FALSE(unseals("a", kRootA, TpmStage::kFirst));
    EXPECT_TRUE(unseals("b", kRootB, TpmStage::kKexec));
    auto b = unlock("b", kRootB, TpmStage::kKexec);
    ASSERT_TRUE(b && b->how);
    EXPECT_NE(b->how->find("TPM2 (slot b, kexec'd)"), std::string::npos) << *b->how;

    extend_boot_phase(core::boot_done_measurement());  // b's PID 1 hands over to b's init
    EXPECT_FALSE(unseals("b", kRootB, TpmStage::kKexec));
    EXPECT_FALSE(unseals("b", kRootB, TpmStage::kFirst));
}

TEST_F(TpmEnroll, ClearedTpmLeavesTheRecoveryPathsWithTheReason) {
    ASSERT_EQ(imageinit({"enroll-tpm", "--key-file", (dir_ / "machine.key").string()}).exit_code,
              0);
    restart_blank();
    auto a = unlock("a", kRootA);
    ASSERT_TRUE(a) << a.error().message;  // not the slot's fault: no failed attempt
    EXPECT_FALSE(a->how);
    EXPECT_NE(a->failure.find("TPM unseal failed"), std::string::npos) << a->failure;
}

TEST_F(TpmEnroll, MarkGoodRetiresKeysOfImagesNoLongerInstalled) {
    write(dir_ / "state/slots/b.img.roothash", kRootB + "\n");
    // Slot b proven too: enroll-tpm seals to both images.
    write(dir_ / "state/imageinit/state", "");
    ASSERT_EQ(imageinit({"enroll-tpm", "--key-file", (dir_ / "machine.key").string()}).exit_code,
              0);
    {
        auto cd = header();
        EXPECT_GE(os::read_tokens(cd, "imageinit-tpm2").size(), 1u);
    }
    fs::remove(dir_ / "state/slots/a.img.roothash");  // slot a now holds an unmeasured image
    write(dir_ / "state/slots/a.img.roothash", kRootB + "\n");
    auto r = imageinit({"mark-good", "--no-checks"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto cd = header();
    auto left = os::read_tokens(cd, "imageinit-tpm2");
    for (const auto& t : left) EXPECT_NE(t.json.find(kRootB), std::string::npos) << t.json;
    // Image a's two keys: for the first PID 1 and for a kexec'd one.
    EXPECT_NE(r.output.find("retired 2 key"), std::string::npos) << r.output;
}

}  // namespace
