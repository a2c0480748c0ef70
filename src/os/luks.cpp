// LUKS2 unlock (see luks.h). Which key slots a key is tried against is decided here:
// - the key file goes to the slot named in key_slot_file, else to the pbkdf2 slots only: a
//   machine key is random and needs no stretching, and trying it first against an argon2id slot
//   would cost seconds of memory-hard work per slot for nothing;
// - a typed passphrase goes to the other (argon2/memory-hard) slots, one by one.
#include "os/luks.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "base/unique_fd.h"
#include "os/cryptsetup_lib.h"
#include "os/safe_open.h"

namespace imageinit::os {
namespace {

constexpr size_t kMaxKey = 8192;  // libcryptsetup's default keyfile size limit
// The per-device key's size (core::kPersistKeyBytes writes 64): shorter is not a key we wrote.
constexpr size_t kStateKeyMin = 32, kStateKeyMax = 64;

// A key buffer that never reaches swap and is wiped on every exit path.
class Secret {
  public:
    Secret() { locked_ = ::mlock(buf_, sizeof buf_) == 0; }
    ~Secret() {
        ::explicit_bzero(buf_, sizeof buf_);
        if (locked_) ::munlock(buf_, sizeof buf_);
    }
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    char* data() { return buf_; }
    const char* data() const { return buf_; }
    size_t size() const { return size_; }
    void set_size(size_t n) { size_ = n; }
    static constexpr size_t capacity() { return kMaxKey; }

  private:
    char buf_[kMaxKey];
    size_t size_ = 0;
    bool locked_ = false;
};

struct Slot {
    int number;
    std::string pbkdf;  // "pbkdf2", "argon2id", "argon2i"
};

std::vector<Slot> active_slots(const CryptDevice& cd) {
    std::vector<Slot> out;
    int max = cd.api().crypt_keyslot_max(CRYPT_LUKS2);
    for (int i = 0; i < max; ++i) {
        auto st = cd.api().crypt_keyslot_status(cd.get(), i);
        if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST) continue;
        struct crypt_pbkdf_type pbkdf = {};
        std::string type = "unknown";
        if (cd.api().crypt_keyslot_get_pbkdf(cd.get(), i, &pbkdf) == 0 && pbkdf.type)
            type = pbkdf.type;
        out.push_back({i, type});
    }
    return out;
}

Result<void> read_key_file(const std::string& path, Secret& key) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail_errno("open", path);
    size_t n = 0;
    while (n < Secret::capacity()) {
        ssize_t r = ::read(fd.get(), key.data() + n, Secret::capacity() - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno("read", path);
        if (r == 0) break;
        n += static_cast<size_t>(r);
    }
    key.set_size(n);
    if (n == 0) return fail(EINVAL, "key file '" + path + "' is empty");
    return ok();
}

// The per-device key, read straight into locked memory from a partition file: no symlink, fifo
// or device node is followed or waited on. ENOENT when there is none.
Result<void> read_state_key(int root_fd, const std::string& rel, Secret& key) {
    UniqueFd fd = TRY(open_checked(root_fd, rel, Scope::kPartition, Want::kFile, O_RDONLY));
    size_t n = 0;
    while (n < kStateKeyMax + 1) {
        ssize_t r = ::read(fd.get(), key.data() + n, kStateKeyMax + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno("read", rel);
        if (r == 0) break;
        n += static_cast<size_t>(r);
    }
    key.set_size(n);
    if (n < kStateKeyMin || n > kStateKeyMax)
        return fail(EINVAL, "'" + rel + "' holds " + (n > kStateKeyMax ? "more than " : "") +
                                std::to_string(n > kStateKeyMax ? kStateKeyMax : n) +
                                " bytes, not a key of 32..64");
    return ok();
}

// Reads one line from the console with echo off; false when nobody typed within the timeout.
Result<bool> ask(int fd, const std::string& prompt, std::chrono::seconds timeout, Secret& out) {
    struct termios saved, quiet;
    bool tty = ::tcgetattr(fd, &saved) == 0;
    if (tty) {
        quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ICANON;
        (void)::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, prompt.data(), prompt.size());
    size_t n = 0;
    bool got_line = false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!got_line && n < Secret::capacity()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        struct pollfd p = {fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char c;
        ssize_t got = ::read(fd, &c, 1);
        if (got <= 0) break;
        if (c == '\n' || c == '\r') {
            got_line = true;
        } else {
            out.data()[n++] = c;
        }
        c = 0;
    }
    out.set_size(n);
    if (tty) (void)::tcsetattr(fd, TCSAFLUSH, &saved);
    (void)!::write(fd, "\n", 1);
    return got_line;
}

long ms_since(std::chrono::steady_clock::time_point t0) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
}

// Tries KEY against SLOTS in order, one named slot at a time (never CRYPT_ANY_SLOT); returns
// the slot that opened it, or nullptr. MS: the time of the last try (the unlock time).
const Slot* try_slots(const CryptDevice& cd, const std::string& name, const Secret& key,
                      const std::vector<Slot>& slots, long& ms) {
    for (const auto& s : slots) {
        auto t0 = std::chrono::steady_clock::now();
        int r = cd.api().crypt_activate_by_passphrase(cd.get(), name.c_str(), s.number, key.data(),
                                                      key.size(), 0);
        ms = ms_since(t0);
        if (r >= 0) return &s;
    }
    return nullptr;
}

std::string describe(const Slot& s) {
    return "key slot " + std::to_string(s.number) + " (" + s.pbkdf + ")";
}

}  // namespace

Result<Luks2Header> load_luks2(const std::string& device) {
    CryptDevice cd = TRY(CryptDevice::open(device));
    int r = cd.api().crypt_load(cd.get(), CRYPT_LUKS2, nullptr);
    if (r < 0) return cd.error("load LUKS2 header of", device, r);
    const char* json = nullptr;
    r = cd.api().crypt_dump_json(cd.get(), &json, 0);
    if (r < 0 || !json) return cd.error("read LUKS2 metadata of", device, r < 0 ? r : -EINVAL);
    std::string text = json;
    return Luks2Header{std::move(cd), std::move(text)};
}

Result<LuksUnlocked> luks_unlock(const CryptDevice& cd, const std::string& device,
                                 const std::string& name, const LuksUnlockOptions& o) {
    std::vector<Slot> slots = active_slots(cd);
    std::vector<Slot> machine, human;
    int named = -1;
    if (!o.key_slot_file.empty()) {
        UniqueFd fd(::open(o.key_slot_file.c_str(), O_RDONLY | O_CLOEXEC));
        char buf[16] = {};
        if (fd && ::read(fd.get(), buf, sizeof buf - 1) > 0) named = ::atoi(buf);
    }
    for (const auto& s : slots) {
        bool for_machine = named >= 0 ? s.number == named : s.pbkdf == "pbkdf2";
        (for_machine ? machine : human).push_back(s);
    }
    // A header with only one kind of slot still opens, at the cost the user chose for it.
    if (machine.empty()) machine = slots;
    if (human.empty()) human = slots;
    std::vector<std::string> tried;
    long ms = 0;

    // The first stage (TPM2); when it cannot unlock, the key file and the typed (recovery) key
    // follow, and the result says why it failed (docs/integrity.md, "TPM2").
    std::string after_first;
    if (o.first_stage) {
        KeyStageResult t = TRY(o.first_stage(cd, name));
        if (t.how) return LuksUnlocked{"/dev/mapper/" + name, *t.how};
        if (!t.failure.empty()) {
            tried.push_back(t.failure);
            after_first = " (" + t.failure + ")";
        }
    }

    struct stat st;
    if (!o.key_file.empty() && ::stat(o.key_file.c_str(), &st) == 0) {
        Secret key;
        TRY(read_key_file(o.key_file, key));
        if (const Slot* s = try_slots(cd, name, key, machine, ms))
            return LuksUnlocked{
                "/dev/mapper/" + name,
                "key file, " + describe(*s) + ", " + std::to_string(ms) + " ms" + after_first};
        tried.push_back("the key file");
    }

    if (o.state_root_fd >= 0 && !o.state_key.empty()) {
        Secret key;
        auto read = read_state_key(o.state_root_fd, o.state_key, key);
        if (read) {
            if (const Slot* s = try_slots(cd, name, key, machine, ms))
                return LuksUnlocked{"/dev/mapper/" + name, "state key " + o.state_key + ", " +
                                                               describe(*s) + ", " +
                                                               std::to_string(ms) + " ms"};
            tried.push_back(o.state_key);
        } else if (read.error().code != ENOENT) {
            tried.push_back("no " + o.state_key + " (" + read.error().message + ")");
        }
    }

    if (!o.console.empty() && !human.empty()) {
        UniqueFd con(::open(o.console.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!con) {
            tried.push_back("no passphrase (cannot open " + o.console + ")");
        } else {
            int typed = 0;
            if (!after_first.empty()) {
                std::string msg = tried.front() + "\nType the recovery key or a passphrase.\n";
                (void)!::write(con.get(), msg.data(), msg.size());
            }
            for (int attempt = 1; attempt <= o.passphrase_tries; ++attempt) {
                Secret pass;
                std::string prompt = "Passphrase for " + device + " (" + o.label + "), try " +
                                     std::to_string(attempt) + "/" +
                                     std::to_string(o.passphrase_tries) + ": ";
                bool line = TRY(ask(con.get(), prompt, o.prompt_timeout, pass));
                if (!line) break;  // nobody at the console
                ++typed;
                if (const Slot* s = try_slots(cd, name, pass, human, ms)) {
                    std::string msg = "passphrase accepted\n";
                    (void)!::write(con.get(), msg.data(), msg.size());
                    return LuksUnlocked{"/dev/mapper/" + name, "passphrase, " + describe(*s) +
                                                                   ", " + std::to_string(ms) +
                                                                   " ms" + after_first};
                }
                std::string msg = "wrong passphrase\n";
                (void)!::write(con.get(), msg.data(), msg.size());
            }
            tried.push_back(std::to_string(typed) + " typed passphrase(s)");
        }
    }
    std::string what;
    for (const auto& t : tried) what += (what.empty() ? "" : ", ") + t;
    return fail(EPERM, "no key unlocked LUKS2 '" + device + "'" +
                           (what.empty() ? " (no key file, no console)" : " (tried " + what + ")"));
}

}  // namespace imageinit::os
