// Signed slot images: `imageinit sign` and install's signature check (see signing.h).
#include "cli/signing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/options.h"
#include "cli/print.h"
#include "cli/verity_sidecars.h"
#include "core/signature_policy.h"
#include "os/root_hash_signature.h"
#include "os/safe_open.h"
#include "os/verity.h"

namespace imageinit::cli {
namespace {

constexpr size_t kMaxPem = 1 << 20;
constexpr size_t kMaxSignature = 64 << 10;

bool is_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> read_host_file(const std::string& path, size_t max_bytes) {
    return os::read_checked(AT_FDCWD, path, os::Scope::kHost, max_bytes);
}

Result<void> write_beside(const std::string& path, const std::string& bytes) {
    std::string tmp = path + ".new";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return fail_errno("open", tmp);
    if (::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
        return fail_errno("write", tmp);
    if (::fsync(fd.get()) < 0) return fail_errno("fsync", tmp);
    if (::rename(tmp.c_str(), path.c_str()) < 0) return fail_errno("rename", path);
    return ok();
}

}  // namespace

Result<std::string> sign_image(const std::string& image, const std::string& key_file,
                               const std::string& cert_file) {
    std::string key = TRY_CTX(read_host_file(key_file, kMaxPem), "key");
    std::string cert = TRY_CTX(read_host_file(cert_file, kMaxPem), "certificate");
    // Sign only what was checked: the tree and the root hash must match the image.
    auto roothash = TRY(check_verity_sidecars(image));
    if (!roothash)
        return fail(ENOENT, "'" + image + "' has no verity sidecars ('" + image + ".verity', '" +
                                image +
                                ".roothash'): make them first (imageinit-compose "
                                "--verity, or veritysetup format)");
    std::string p7s =
        TRY_CTX(os::sign_root_hash(*roothash, key, cert), "signing '" + image + ".roothash'");
    std::string signer = TRY(os::verify_root_hash(*roothash, p7s, {cert}));
    TRY(write_beside(image + ".roothash.p7s", p7s));
    return signer;
}

Result<std::string> running_trust(const std::string& run_dir) {
    auto pem = read_host_file(run_dir + "/trust.pem", kMaxPem);
    if (!pem && pem.error().code == ENOENT) return std::string();
    return pem;
}

Result<std::string> check_root_hash_signature(const std::string& image,
                                              const std::optional<std::string>& roothash,
                                              const std::string& trust_pem) {
    const std::string subject = core::signature_subject_image(image);
    auto count = os::count_certificates(trust_pem);
    if (!count)
        return fail(
            count.error().code,
            core::signature_failure(subject, "the trusted certificates: " + count.error().message));
    core::SignatureFacts facts;
    facts.trusted_certs = *count;
    facts.has_verity = roothash.has_value();
    facts.has_signature = is_file(image + ".roothash.p7s");
    facts.signature_file = image + ".roothash.p7s";
    if (TRY(core::signature_check(subject, facts)) == core::SignatureCheck::kNotRequired)
        return std::string();
    auto hex = os::parse_roothash(*roothash);
    if (!hex) return fail(hex.error().code, core::signature_failure(subject, hex.error().message));
    auto p7s = read_host_file(image + ".roothash.p7s", kMaxSignature);
    if (!p7s) return fail(p7s.error().code, core::signature_failure(subject, p7s.error().message));
    auto signer = os::verify_root_hash(*hex, *p7s, {trust_pem});
    if (!signer)
        return fail(signer.error().code, core::signature_failure(subject, signer.error().message));
    return *signer;
}

Result<std::string> check_image_signature(const std::string& image, const std::string& trust_pem) {
    const std::string subject = core::signature_subject_image(image);
    std::optional<std::string> roothash;
    if (is_file(image + ".verity") && is_file(image + ".roothash")) {
        auto text = read_host_file(image + ".roothash", 1024);
        if (!text)
            return fail(text.error().code, core::signature_failure(subject, text.error().message));
        roothash = std::move(*text);
    }
    // The signature first (cheap, and an untrusted image is refused without reading it all),
    // then the image against the tree and that root hash, as dm-verity will check it at boot.
    std::string signer = TRY(check_root_hash_signature(image, roothash, trust_pem));
    if (!roothash) return signer;  // nothing required (no certificates)
    auto verified = check_verity_sidecars(image, TRY(os::parse_roothash(*roothash)));
    if (!verified)
        return fail(verified.error().code,
                    core::signature_failure(subject, verified.error().message));
    return signer;
}

Result<std::string> read_trust_files(const std::vector<std::string>& certs) {
    std::string pem;
    for (const auto& c : certs) {
        std::string one = TRY_CTX(read_host_file(c, kMaxPem), "trusted certificate");
        if (!pem.empty() && !pem.ends_with('\n')) pem += '\n';
        pem += one;
    }
    return pem;
}

int cmd_sign(const std::vector<std::string>& args, const CommonOptions&) {
    const char* usage = "usage: imageinit sign IMAGE --key KEY.pem --cert CERT.pem";
    std::string image, key, cert;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--key" && i + 1 < args.size()) {
            key = args[++i];
        } else if (args[i] == "--cert" && i + 1 < args.size()) {
            cert = args[++i];
        } else if (image.empty() && !args[i].starts_with("--")) {
            image = args[i];
        } else {
            log::error(usage);
            return 2;
        }
    }
    if (image.empty() || key.empty() || cert.empty()) {
        log::error(usage);
        return 2;
    }
    auto signer = sign_image(image, key, cert);
    if (!signer) return report_error(signer.error());
    out(image, ".roothash.p7s: root hash signed by '", *signer, "'\n");
    return 0;
}

}  // namespace imageinit::cli
