// SHA-256 via libcrypto's EVP interface. Why libcrypto rather than a hand-written hash: it is
// audited, uses the CPU's SHA extensions (layers are hundreds of MB), and build hosts have it.
#include "compose/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "base/unique_fd.h"

namespace imageinit::compose {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) ctx_.reset();
}

void Sha256::update(const void* data, size_t size) {
    if (ctx_) EVP_DigestUpdate(ctx_.get(), data, size);
}

std::string Sha256::hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ctx_ || EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out += kHex[md[i] >> 4];
        out += kHex[md[i] & 0xf];
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data.data(), data.size());
    return h.hex();
}

Result<std::string> sha256_file(const std::string& path, uint64_t* size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open", path);
    Sha256 h;
    if (!h.valid()) return fail("sha256: libcrypto context allocation failed");
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read", path);
        }
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
        total += static_cast<uint64_t>(n);
    }
    if (size) *size = total;
    return h.hex();
}

}  // namespace imageinit::compose
