// The LUKS2 machine-key unlock without the device-mapper half: open the key slot that
// docs/integrity.md recommends for a machine key (pbkdf2, 1000 iterations) and check the key
// (crypt_activate_by_passphrase with no name: derive, merge the anti-forensic stripes, decrypt
// and check the volume key digest). This is the part that costs on hardware; QEMU TCG
// emulates every instruction and reports ~150 ms for the whole unlock (docs/performance.md).
#include <benchmark/benchmark.h>
#include <libcryptsetup.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace imageinit {
namespace {

void BM_LuksMachineKeyCheck(benchmark::State& state) {
    const char* env = ::getenv("IMAGEINIT_BENCH_DIR");
    std::string path = std::string(env ? env : "/var/tmp") + "/imageinit-luks.XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0 || ::ftruncate(fd, 32 << 20) != 0) {
        state.SkipWithError("cannot create the header file");
        return;
    }
    ::close(fd);
    const std::string key(64, 'k');  // a machine key: random in practice, any bytes here
    struct crypt_device* cd = nullptr;
    struct crypt_pbkdf_type pbkdf = {};
    pbkdf.type = CRYPT_KDF_PBKDF2;
    pbkdf.hash = "sha256";
    pbkdf.iterations = 1000;
    pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
    struct crypt_params_luks2 params = {};
    params.pbkdf = &pbkdf;
    int r = crypt_init(&cd, path.c_str());
    if (r == 0)
        r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", nullptr, nullptr, 64, &params);
    if (r == 0) r = crypt_keyslot_add_by_volume_key(cd, 0, nullptr, 0, key.data(), key.size());
    if (r < 0) {
        // Keyslots are encrypted through the kernel's crypto API (AF_ALG), which sandboxes lack.
        state.SkipWithError(("LUKS2 format failed: " + std::to_string(r)).c_str());
    } else {
        for (auto _ : state) {
            r = crypt_activate_by_passphrase(cd, nullptr, 0, key.data(), key.size(), 0);
            if (r < 0) {
                state.SkipWithError(("key check failed: " + std::to_string(r)).c_str());
                break;
            }
        }
    }
    if (cd) crypt_free(cd);
    ::unlink(path.c_str());
}
BENCHMARK(BM_LuksMachineKeyCheck)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace imageinit
