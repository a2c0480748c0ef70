// PKCS#7 signatures of a root hash through the dlopen'ed libcrypto (see root_hash_signature.h).
#include "os/root_hash_signature.h"

#include <memory>

#include "os/libcrypto_lib.h"

namespace imageinit::os {
namespace {

// Owners of libcrypto objects; the deleter calls the loaded library's free function.
template <typename T, void (*Free)(const LibcryptoApi&, T*)>
struct Owned {
    const LibcryptoApi* api;
    void operator()(T* p) const {
        if (p) Free(*api, p);
    }
};
void free_bio(const LibcryptoApi& a, BIO* p) { a.BIO_free(p); }
void free_x509(const LibcryptoApi& a, X509* p) { a.X509_free(p); }
void free_pkey(const LibcryptoApi& a, EVP_PKEY* p) { a.EVP_PKEY_free(p); }
void free_pkcs7(const LibcryptoApi& a, PKCS7* p) { a.PKCS7_free(p); }
void free_store(const LibcryptoApi& a, X509_STORE* p) { a.X509_STORE_free(p); }
void free_stack(const LibcryptoApi& a, OPENSSL_STACK* p) { a.OPENSSL_sk_free(p); }
using BioPtr = std::unique_ptr<BIO, Owned<BIO, free_bio>>;
using X509Ptr = std::unique_ptr<X509, Owned<X509, free_x509>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Owned<EVP_PKEY, free_pkey>>;
using Pkcs7Ptr = std::unique_ptr<PKCS7, Owned<PKCS7, free_pkcs7>>;
using StorePtr = std::unique_ptr<X509_STORE, Owned<X509_STORE, free_store>>;
using StackPtr = std::unique_ptr<OPENSSL_STACK, Owned<OPENSSL_STACK, free_stack>>;

// A read-only memory BIO over TEXT (which must outlive it).
BioPtr mem_bio(const LibcryptoApi& a, const std::string& text) {
    return BioPtr(a.BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), {&a});
}

// Every certificate of a PEM text, in order.
Result<std::vector<X509Ptr>> read_certificates(const LibcryptoApi& a, const std::string& pem) {
    std::vector<X509Ptr> out;
    BioPtr bio = mem_bio(a, pem);
    if (!bio) return fail(ENOMEM, "BIO_new_mem_buf: out of memory");
    while (X509* x = a.PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
        out.emplace_back(x, Owned<X509, free_x509>{&a});
    a.ERR_clear_error();  // the read that ends the loop queues "no start line"
    if (out.empty()) return fail(EINVAL, "no PEM certificate in it");
    return out;
}

std::string subject_of(const LibcryptoApi& a, X509* cert) {
    char* s = a.X509_NAME_oneline(a.X509_get_subject_name(cert), nullptr, 0);
    if (!s) return "?";
    std::string out = s;
    a.CRYPTO_free(s, OPENSSL_FILE, OPENSSL_LINE);
    return out;
}

}  // namespace

Result<std::string> sign_root_hash(const std::string& roothash_hex, const std::string& key_pem,
                                   const std::string& cert_pem) {
    const LibcryptoApi& a = *TRY(libcrypto());
    a.ERR_clear_error();
    std::vector<X509Ptr> certs = TRY_CTX(read_certificates(a, cert_pem), "certificate");
    BioPtr key_bio = mem_bio(a, key_pem);
    PkeyPtr key(a.PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), {&a});
    if (!key) return fail(EINVAL, "key: no PEM private key in it (" + a.take_errors() + ")");
    if (a.X509_check_private_key(certs[0].get(), key.get()) != 1) {
        a.ERR_clear_error();
        return fail(EINVAL, "the key does not belong to the certificate '" +
                                subject_of(a, certs[0].get()) + "'");
    }
    BioPtr data = mem_bio(a, roothash_hex);
    // As systemd documents it (`openssl smime -sign -nocerts -noattr -binary`): the kernel's
    // PKCS#7 parser finds the signer in its keyring, so no certificate needs to travel along.
    const int flags = PKCS7_DETACHED | PKCS7_BINARY | PKCS7_NOATTR | PKCS7_NOCERTS;
    Pkcs7Ptr p7(a.PKCS7_sign(certs[0].get(), key.get(), nullptr, data.get(), flags), {&a});
    if (!p7) return fail(EINVAL, "PKCS7_sign: " + a.take_errors());
    unsigned char* der = nullptr;
    int n = a.i2d_PKCS7(p7.get(), &der);
    if (n <= 0) return fail(EINVAL, "i2d_PKCS7: " + a.take_errors());
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    a.CRYPTO_free(der, OPENSSL_FILE, OPENSSL_LINE);
    return out;
}

Result<std::string> verify_root_hash(const std::string& roothash_hex, const std::string& p7s,
                                     const std::vector<std::string>& trusted) {
    const LibcryptoApi& a = *TRY(libcrypto());
    a.ERR_clear_error();
    auto* p = reinterpret_cast<const unsigned char*>(p7s.data());
    Pkcs7Ptr p7(a.d2i_PKCS7(nullptr, &p, static_cast<long>(p7s.size())), {&a});
    if (!p7) {
        a.ERR_clear_error();
        return fail(EBADMSG,
                    "not a DER PKCS#7 signature (" + std::to_string(p7s.size()) + " bytes)");
    }
    std::vector<X509Ptr> certs;
    StackPtr stack(a.OPENSSL_sk_new_null(), {&a});
    if (!stack) return fail(ENOMEM, "OPENSSL_sk_new_null: out of memory");
    for (size_t i = 0; i < trusted.size(); ++i) {
        auto more = TRY_CTX(read_certificates(a, trusted[i]),
                            "trusted certificate " + std::to_string(i + 1));
        for (auto& c : more) {
            if (a.OPENSSL_sk_push(stack.get(), c.get()) <= 0)
                return fail(ENOMEM, "OPENSSL_sk_push: out of memory");
            certs.push_back(std::move(c));
        }
    }
    auto* x509s = reinterpret_cast<STACK_OF(X509)*>(stack.get());
    // The signer only from the trusted list (NOINTERN ignores certificates the signature
    // carries), used as is (NOVERIFY: no chain and no validity dates, as the kernel's keyring).
    const int flags = PKCS7_BINARY | PKCS7_NOINTERN | PKCS7_NOVERIFY | PKCS7_DETACHED;
    StackPtr signers(reinterpret_cast<OPENSSL_STACK*>(a.PKCS7_get0_signers(p7.get(), x509s, flags)),
                     {&a});
    if (!signers || a.OPENSSL_sk_num(signers.get()) < 1) {
        a.ERR_clear_error();
        return fail(EKEYREJECTED, "signed by none of the " + std::to_string(certs.size()) +
                                      " trusted certificate(s)");
    }
    std::string signer = subject_of(a, static_cast<X509*>(a.OPENSSL_sk_value(signers.get(), 0)));
    StorePtr store(a.X509_STORE_new(), {&a});
    BioPtr data = mem_bio(a, roothash_hex);
    if (!store || !data) return fail(ENOMEM, "libcrypto: out of memory");
    if (a.PKCS7_verify(p7.get(), x509s, store.get(), data.get(), nullptr, flags) != 1)
        return fail(EBADMSG, "signature by '" + signer + "' does not match root hash " +
                                 roothash_hex + " (" + a.take_errors() + ")");
    return signer;
}

Result<size_t> count_certificates(const std::string& pem) {
    const LibcryptoApi& a = *TRY(libcrypto());
    auto certs = TRY(read_certificates(a, pem));
    return certs.size();
}

}  // namespace imageinit::os
