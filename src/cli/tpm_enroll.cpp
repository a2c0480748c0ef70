// enroll-tpm, and the install/mark-good halves of the TPM2-sealed PERSIST key (tpm_enroll.h).
// The key an unlock unsealed is kept in RUN_DIR/tpm.key (0400, tmpfs) by PID 1, so `install`
// can seal it to the next image without a passphrase (docs/integrity.md says what that means).
#include "cli/tpm_enroll.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>

#include "base/log.h"
#include "boot/luks_header.h"
#include "cli/options.h"
#include "cli/print.h"
#include "core/boot_record.h"
#include "core/tpm_policy.h"
#include "os/files.h"
#include "os/luks.h"
#include "os/luks_tokens.h"
#include "os/tpm2.h"

namespace imageinit::cli {
namespace {

constexpr const char* kMapping = "imageinit-persist";
constexpr const char* kRecoveryTokenType = "imageinit-recovery";
constexpr size_t kTpmKeyBytes = 32;
constexpr size_t kRecoveryBytes = 16;  // 128 bits, typed as 8 groups of 4 hex digits
constexpr size_t kMaxKey = 8192;
const char* const kSlotNames[] = {"a", "b", "recovery"};

struct Target {
    std::string device;     // "" = the device under /dev/mapper/imageinit-persist
    std::string interface;  // TPM interface (os/tpm2_lib.h)
};

// The environment names another device or TPM (tests: a LUKS2 file, swtpm).
Target default_target() {
    Target t;
    if (const char* d = std::getenv("IMAGEINIT_PERSIST_DEVICE")) t.device = d;
    t.interface = tpm_interface();
    return t;
}

std::string key_copy_path(const CommonOptions& o) { return o.run_dir + "/tpm.key"; }

struct HeaderToken {
    int id;
    core::TpmToken token;
};
// The header's imageinit-tpm2 tokens that parse (a malformed one is not ours to keep).
std::vector<HeaderToken> tpm_tokens(const os::CryptDevice& cd) {
    std::vector<HeaderToken> out;
    for (const auto& t : os::read_tokens(cd, std::string(core::kTpmTokenType)))
        if (auto parsed = core::parse_token_json(t.json)) out.push_back({t.id, std::move(*parsed)});
    return out;
}

// PERSIST's LUKS2 header, loaded and past the header policy (docs/integrity.md).
Result<os::CryptDevice> open_persist(const Target& t) {
    std::string device = t.device;
    if (device.empty()) {
        auto api = TRY(os::cryptsetup());
        crypt_device* raw = nullptr;
        int r = api->crypt_init_by_name(&raw, kMapping);
        if (r < 0)
            return fail(-r, std::string("no unlocked PERSIST ('/dev/mapper/") + kMapping +
                                "'): " + std::strerror(-r));
        const char* name = api->crypt_get_device_name(raw);
        device = name ? name : "";
        api->crypt_free(raw);
        if (device.empty()) return fail(ENODEV, "cannot tell which device PERSIST is");
    }
    return boot::load_luks2_checked(device);
}

Result<std::vector<uint8_t>> random_bytes(size_t n) {
    std::vector<uint8_t> out(n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::getrandom(out.data() + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno("getrandom", "");
        got += static_cast<size_t>(r);
    }
    return out;
}

// 16 random bytes as "0123-4567-89ab-..." : the recovery key is that text, dashes included.
std::string recovery_text(const std::vector<uint8_t>& raw) {
    std::string hex = core::to_hex(raw.data(), raw.size()), out;
    for (size_t i = 0; i < hex.size(); i += 4) out += (i ? "-" : "") + hex.substr(i, 4);
    return out;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

void wipe(std::vector<uint8_t>& v) {
    if (!v.empty()) ::explicit_bzero(v.data(), v.size());
}

// An existing key of PERSIST: --key-file, else the key this boot unsealed, else a passphrase
// typed on standard input (echo off on a terminal).
Result<std::vector<uint8_t>> existing_key(const std::string& key_file, const CommonOptions& o) {
    std::string path = key_file;
    struct stat st;
    if (path.empty() && ::stat(key_copy_path(o).c_str(), &st) == 0) path = key_copy_path(o);
    if (!path.empty()) {
        auto text = TRY(os::read_file(path, kMaxKey));
        return bytes_of(text);
    }
    struct termios saved, quiet;
    bool tty = ::tcgetattr(0, &saved) == 0;
    if (tty) {
        quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        (void)::tcsetattr(0, TCSAFLUSH, &quiet);
        err("Passphrase (or recovery key) of PERSIST: ");
    }
    std::string line;
    char c;
    while (::read(0, &c, 1) == 1 && c != '\n' && line.size() < kMaxKey) line += c;
    if (tty) {
        (void)::tcsetattr(0, TCSAFLUSH, &saved);
        err("\n");
    }
    if (line.empty()) return fail(EINVAL, "no existing key: give --key-file FILE or type one");
    auto out = bytes_of(line);
    ::explicit_bzero(line.data(), line.size());
    return out;
}

// The root hash each slot's image is verified with (slots/NAME.img.roothash on STATE).
std::string slot_roothash(const CommonOptions& o, const std::string& slot) {
    auto text = os::read_file(o.state_dir + "/slots/" + slot + ".img.roothash", 1024);
    if (!text) return "";
    return core::normalize_roothash(*text).value_or("");
}

// Seals KEY to ROOTHASH's measurement for STAGE, checks the sealed object loads, adds the token.
Result<void> seal_one(const os::CryptDevice& cd, os::Tpm2& tpm, const std::string& roothash,
                      const std::vector<uint8_t>& key, int keyslot,
                      const std::optional<core::Sha256Digest>& secure_boot, core::TpmStage stage) {
    auto pcrs = core::expected_pcrs(roothash, secure_boot, stage);
    core::Sha256Digest policy = TRY(core::policy_pcr_digest(pcrs));
    os::SealedKey sealed = TRY(tpm.seal(policy, key));
    TRY(tpm.check_sealed(sealed, policy));
    core::TpmToken t;
    t.roothash = roothash;
    for (const auto& p : pcrs) t.pcrs.push_back(p.index);
    if (secure_boot) t.secure_boot = core::to_hex(*secure_boot);
    t.policy = core::to_hex(policy);
    t.tpm_public = core::to_hex(sealed.tpm_public.data(), sealed.tpm_public.size());
    t.tpm_private = core::to_hex(sealed.tpm_private.data(), sealed.tpm_private.size());
    t.keyslot = keyslot;
    t.stage = stage;
    TRY(os::add_token(cd, core::token_json(t)));
    return ok();
}

// Both keys of an image: for the boot loader's PID 1, and for the PID 1 of the image's own
// kernel after imageinit kexec'd into it (docs/integrity.md, "A slot with its own kernel"). An
// image without a kernel never needs the second, but whether an image is kexec'd depends on the
// kernel running at its boot, which a later update can change: every image gets both.
Result<void> seal_for(const os::CryptDevice& cd, os::Tpm2& tpm, const std::string& roothash,
                      const std::vector<uint8_t>& key, int keyslot,
                      const std::optional<core::Sha256Digest>& secure_boot) {
    TRY(seal_one(cd, tpm, roothash, key, keyslot, secure_boot, core::TpmStage::kFirst));
    return seal_one(cd, tpm, roothash, key, keyslot, secure_boot, core::TpmStage::kKexec);
}

int usage(const std::string& message) {
    log::error(message);
    err("usage: imageinit enroll-tpm [--key-file FILE] [--bind-secure-boot] [--device DEV] "
        "[--tpm INTERFACE]\n");
    return 2;
}

}  // namespace

std::string tpm_interface() {
    const char* env = std::getenv("IMAGEINIT_TPM");
    return env && *env ? env : os::Tpm2::kDefaultInterface;
}

Enrolment::~Enrolment() {
    wipe(key);
    ::explicit_bzero(recovery.data(), recovery.size());
}

Result<Enrolment> enroll_sealed_key(const os::CryptDevice& cd, os::Tpm2& tpm,
                                    const std::vector<uint8_t>& existing,
                                    const std::set<std::string>& roothashes,
                                    const std::optional<core::Sha256Digest>& secure_boot) {
    TRY(os::keyslot_of(cd, existing));  // a wrong key fails here, before anything is added
    // What a re-enrolment replaces: the old sealed key's slot and tokens, the old recovery key.
    std::vector<HeaderToken> old_tokens = tpm_tokens(cd);
    std::set<int> old_slots;
    for (const auto& t : old_tokens) old_slots.insert(t.token.keyslot);

    Enrolment e;
    e.key = TRY(random_bytes(kTpmKeyBytes));
    std::vector<uint8_t> recovery_raw = TRY(random_bytes(kRecoveryBytes));
    e.recovery = recovery_text(recovery_raw);
    wipe(recovery_raw);
    std::vector<uint8_t> recovery_key = bytes_of(e.recovery);
    auto added = [&]() -> Result<void> {
        e.tpm_slot = TRY(os::add_keyslot(cd, existing, e.key, os::KeyKind::kMachine));
        e.recovery_slot = TRY(os::add_keyslot(cd, existing, recovery_key, os::KeyKind::kTyped));
        return ok();
    }();
    wipe(recovery_key);
    TRY(added);
    for (const auto& hash : roothashes)
        TRY_CTX(seal_for(cd, tpm, hash, e.key, e.tpm_slot, secure_boot), "sealing to " + hash);
    for (const auto& t : old_tokens) (void)os::remove_token(cd, t.id);
    for (int s : old_slots)
        if (s != e.tpm_slot && s != e.recovery_slot) (void)os::destroy_keyslot(cd, s);
    // The old recovery key goes too: its token names its slot.
    for (const auto& t : os::read_tokens(cd, kRecoveryTokenType)) {
        auto at = t.json.find("[\"");  // {"type":"imageinit-recovery","keyslots":["N"]}
        int s = at == std::string::npos ? -1 : std::atoi(t.json.c_str() + at + 2);
        if (s >= 0 && s != e.recovery_slot && s != e.tpm_slot) (void)os::destroy_keyslot(cd, s);
        (void)os::remove_token(cd, t.id);
    }
    std::string rec_json = std::string("{\"type\":\"") + kRecoveryTokenType +
                           "\",\"keyslots\":[\"" + std::to_string(e.recovery_slot) + "\"]}";
    (void)os::add_token(cd, rec_json);
    e.images = roothashes.size();
    e.secure_boot = secure_boot.has_value();
    return e;
}

std::string describe_enrolment(const Enrolment& e) {
    return "PERSIST: sealed to the TPM for " + std::to_string(e.images) + " image(s) (key slot " +
           std::to_string(e.tpm_slot) + ", PCRs " + (e.secure_boot ? "7+" : "") + "15+23)\n" +
           "Recovery key (key slot " + std::to_string(e.recovery_slot) +
           "; shown once, write it down):\n\n    " + e.recovery + "\n\n";
}

int cmd_enroll_tpm(const std::vector<std::string>& args, const CommonOptions& o) {
    Target target = default_target();
    std::string key_file;
    bool bind_secure_boot = false;
    for (size_t i = 0; i < args.size(); ++i) {
        auto take = [&](std::string& v) {
            return i + 1 < args.size() ? (v = args[++i], true) : false;
        };
        if (args[i] == "--key-file") {
            if (!take(key_file)) return usage("--key-file needs a file");
        } else if (args[i] == "--device") {
            if (!take(target.device)) return usage("--device needs a device");
        } else if (args[i] == "--tpm") {
            if (!take(target.interface)) return usage("--tpm needs an interface");
        } else if (args[i] == "--bind-secure-boot") {
            bind_secure_boot = true;
        } else {
            return usage("enroll-tpm: unknown argument '" + args[i] + "'");
        }
    }
    auto run = [&]() -> Result<std::string> {
        auto h = TRY(open_record(o));
        std::string running = TRY(running_slot(o));
        // The images the key is sealed to: the running one and every other proven one.
        std::set<std::string> hashes;
        for (const char* slot : kSlotNames) {
            auto s = h.loaded.record.slots.find(slot);
            bool proven =
                s != h.loaded.record.slots.end() && s->second.health == core::SlotHealth::kGood;
            if (slot != running && !proven) continue;
            std::string hash = slot_roothash(o, slot);
            if (hash.empty()) {
                if (slot == running)
                    return fail(EINVAL, "the running slot " + running +
                                            " has no verity root hash "
                                            "(slots/" +
                                            running +
                                            ".img.roothash): only measured "
                                            "images can be sealed to (install it with --verity)");
                continue;
            }
            hashes.insert(hash);
        }
        os::CryptDevice cd = TRY(open_persist(target));
        auto old = existing_key(key_file, o);
        if (!old) return Unexpected(std::move(old).error());
        auto enrolled = [&]() -> Result<Enrolment> {
            os::Tpm2 tpm = TRY(os::Tpm2::open(target.interface));
            std::optional<core::Sha256Digest> secure_boot;
            if (bind_secure_boot) secure_boot = TRY(tpm.pcr_read(core::kSecureBootPcr));
            return enroll_sealed_key(cd, tpm, *old, hashes, secure_boot);
        }();
        wipe(*old);
        if (!enrolled) return Unexpected(std::move(enrolled).error());
        const auto& key = enrolled->key;
        if (auto kept = os::write_file(key_copy_path(o), std::string(key.begin(), key.end()), 0400);
            !kept)
            log::warning("install cannot enrol the next image before a reboot: " +
                         kept.error().message);
        return describe_enrolment(*enrolled);
    };
    auto r = run();
    if (!r) return report_error(with_context(std::move(r).error(), "enroll-tpm"));
    out(*r);
    return 0;
}

Result<bool> tpm_install_precheck(const CommonOptions& o, bool verity) {
    Target target = default_target();
    auto cd = open_persist(target);
    if (!cd) return false;  // no unlocked LUKS2 PERSIST: nothing is sealed
    if (tpm_tokens(*cd).empty()) return false;
    if (!verity)
        return fail(EINVAL,
                    "PERSIST's key is sealed to measured images: install the image with "
                    "--verity, or the new slot would never unlock it");
    struct stat st;
    if (::stat(key_copy_path(o).c_str(), &st) != 0)
        return fail(ENOENT,
                    "PERSIST's key is sealed to the TPM but this boot did not unseal it ('" +
                        key_copy_path(o) + "' is missing): run enroll-tpm first");
    return true;
}

Result<std::string> tpm_enroll_image(const CommonOptions& o, const std::string& roothash_text) {
    Target target = default_target();
    std::string roothash = TRY(core::normalize_roothash(roothash_text));
    os::CryptDevice cd = TRY(open_persist(target));
    auto tokens = tpm_tokens(cd);
    if (tokens.empty()) return fail(ENOENT, "PERSIST has no TPM-sealed key");
    auto text = TRY(os::read_file(key_copy_path(o), kMaxKey));
    std::vector<uint8_t> key = bytes_of(text);
    ::explicit_bzero(text.data(), text.size());
    int keyslot = tokens.front().token.keyslot;
    std::optional<core::Sha256Digest> secure_boot;
    if (!tokens.front().token.secure_boot.empty()) {
        auto raw = TRY(core::from_hex(tokens.front().token.secure_boot));
        if (raw.size() == 32) {
            core::Sha256Digest d;
            std::copy(raw.begin(), raw.end(), d.begin());
            secure_boot = d;
        }
    }
    auto r = [&]() -> Result<void> {
        os::Tpm2 tpm = TRY(os::Tpm2::open(target.interface));
        for (const auto& t : tokens)
            if (t.token.roothash == roothash) TRY(os::remove_token(cd, t.id));
        return seal_for(cd, tpm, roothash, key, keyslot, secure_boot);
    }();
    wipe(key);
    if (!r) return Unexpected(std::move(r).error());
    return "tpm: PERSIST's key sealed to the new image (PCR 23 pre-computed, and PCR 15 of a "
           "kexec into its own kernel; the sealed keys load under this TPM)\n";
}

Result<int> tpm_retire_old_images(const CommonOptions& o) {
    auto cd = open_persist(default_target());
    if (!cd) return 0;
    auto tokens = tpm_tokens(*cd);
    if (tokens.empty()) return 0;
    std::set<std::string> installed;
    for (const char* slot : kSlotNames)
        if (auto h = slot_roothash(o, slot); !h.empty()) installed.insert(h);
    std::vector<core::TpmToken> plain;
    for (const auto& t : tokens) plain.push_back(t.token);
    int retired = 0;
    for (size_t i : core::tokens_to_retire(plain, installed)) {
        TRY(os::remove_token(*cd, tokens[i].id));
        ++retired;
    }
    return retired;
}

}  // namespace imageinit::cli
