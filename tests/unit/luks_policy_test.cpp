// core::check_luks2_policy over json-c: a real LUKS2 header's metadata is accepted, every
// attack shape and malformed JSON is refused with the reason (issue 13).
#include "core/luks_policy.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace imageinit::core {
namespace {

// `cryptsetup luksDump --dump-json-metadata` of a file formatted by cryptsetup 2.6.1
// (luksFormat --type luks2 --pbkdf pbkdf2), compacted; the same header, pretty-printed as
// cryptsetup prints it, is tests/fuzz/corpus/luks_policy/luks2-cryptsetup-2.6.1.json.
const std::string kRealHeader =
    R"({"keyslots":{"0":{"type":"luks2","key_size":64,"af":{"type":"luks1","stripes":4000,"hash":)"
    R"("sha256"},"area":{"type":"raw","offset":"32768","size":"258048","encryption":"aes-xts-plai)"
    R"(n64","key_size":64},"kdf":{"type":"pbkdf2","hash":"sha256","iterations":1000,"salt":"sjj6u)"
    R"(9bHS9aXsX5/945/227y4uAd4n6ebOQeVgxOkbs="}}},"tokens":{},"segments":{"0":{"type":"crypt","o)"
    R"(ffset":"16777216","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_s)"
    R"(ize":4096}},"digests":{"0":{"type":"pbkdf2","keyslots":["0"],"segments":["0"],"hash":"sha2)"
    R"(56","iterations":1000,"salt":"cK9ln/YhqeAHI+KqRpNSeQZ401TyO2OdYNxSJ3hN798=","digest":"YYkQ)"
    R"(NmxJcdXbuc9ifgzQB7k71DsHbtLgD/ke03Yqy8U="}},"config":{"json_size":"12288","keyslots_size":)"
    R"("16744448"}})";

// The real header with one substring replaced (it must occur).
std::string with(const std::string& from, const std::string& to) {
    std::string s = kRealHeader;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
}

TEST(LuksPolicy, RealCryptsetupHeaderIsAccepted) {
    auto r = check_luks2_policy(kRealHeader);
    EXPECT_TRUE(r) << r.error().message;
    // As cryptsetup prints it: indented, with a final newline.
    auto pretty = check_luks2_policy(
        "{\n  \"segments\":{\n    \"0\":{\n      \"type\":\"crypt\","
        "\n      \"encryption\":\"aes-xts-plain64\"\n    }\n  }\n}\n");
    EXPECT_TRUE(pretty) << pretty.error().message;
}

TEST(LuksPolicy, AttackShapesAndMalformedJsonAreRefused) {
    struct Case {
        const char* what;
        std::string json;
        int code;
        const char* message_part;
    } cases[] = {
        {"cipher_null data segment",
         with("\"encryption\":\"aes-xts-plain64\",\"sector_size\"",
              "\"encryption\":\"cipher_null-ecb\",\"sector_size\""),
         EPERM, "'segments/0/encryption' is 'cipher_null-ecb' (no encryption; CVE-2025-59054)"},
        {"cipher_null key slot area",
         with("\"encryption\":\"aes-xts-plain64\",\"key_size\"",
              "\"encryption\":\"cipher_null-ecb\",\"key_size\""),
         EPERM, "'keyslots/0/area/encryption' is 'cipher_null-ecb'"},
        {"cipher_null spelt with a JSON escape",
         with("\"encryption\":\"aes-xts-plain64\",\"sector_size\"",
              "\"encryption\":\"cipher\\u005fnull-ecb\",\"sector_size\""),
         EPERM, "is 'cipher_null-ecb'"},
        {"encryption that is not a string",
         with("\"encryption\":\"aes-xts-plain64\",\"sector_size\"",
              "\"encryption\":[\"cipher_null\"],\"sector_size\""),
         EPERM, "'segments/0/encryption' is not a string"},
        {"linear segment", with("\"type\":\"crypt\"", "\"type\":\"linear\""), EPERM,
         "segment '0' has type 'linear', only 'crypt' is accepted"},
        {"reencryption segment", with("\"type\":\"crypt\"", "\"type\":\"reencrypt\""), EPERM,
         "has type 'reencrypt'"},
        {"authenticated encryption",
         with("\"sector_size\":4096}", "\"sector_size\":4096,\"integrity\":{\"type\":\"hmac\"}}"),
         EPERM, "unexpected segment field 'segments/0/integrity'"},
        {"segment flags", with("\"sector_size\":4096}", "\"sector_size\":4096,\"flags\":[]}"),
         EPERM, "unexpected segment field 'segments/0/flags'"},
        {"segment without a type", with("\"type\":\"crypt\",", ""), EPERM,
         "segment '0' has no type"},
        {"segment that is not an object", "{\"segments\":{\"0\":\"crypt\"}}", EPERM,
         "segment '0' is not an object"},
        {"a newline in a value", "{\"segments\":{\"0\":{\"type\":\"\\ncrypt\"}}}", EPERM,
         "has type '\\x0acrypt'"},
        {"no data segment", "{\"keyslots\":{},\"segments\":{}}", EPERM, "no 'crypt' data segment"},
        {"segments that are not an object", "{\"segments\":[{\"type\":\"crypt\"}]}", EPERM,
         "no 'crypt' data segment"},
        {"a bad literal", "{\"x\":tru}", EINVAL, "not valid JSON"},
        {"a bad literal at the end", "{\"segments\":{\"0\":{\"type\":\"crypt\"}},\"x\":tru", EINVAL,
         "not valid JSON"},
        {"a missing colon", "{\"segments\" {}}", EINVAL, "not valid JSON"},
        {"a trailing comma", "{\"segments\":{\"0\":{\"type\":\"crypt\"},}}", EINVAL,
         "not valid JSON"},
        {"unterminated string", "{\"segments", EINVAL, "not valid JSON"},
        {"trailing data", kRealHeader + " {}", EINVAL, "not valid JSON"},
        {"two values", kRealHeader + kRealHeader, EINVAL, "not valid JSON"},
        {"nesting deeper than a header", std::string(40, '[') + std::string(40, ']'), EINVAL,
         "not valid JSON"},
        {"not an object", "[]", EINVAL, "the metadata is not an object"},
        {"a bare number", "12", EINVAL, "the metadata is not an object"},
        {"empty", "", EINVAL, "not valid JSON"},
        {"invalid UTF-8", "{\"segments\":{\"0\":{\"type\":\"crypt\",\"x\":\"\xff\"}}}", EINVAL,
         "not valid JSON"},
        {"a NUL inside", std::string("{\"segments\":{}}\0{}", 18), EINVAL, "trailing data"},
    };
    for (const auto& tc : cases) {
        auto r = check_luks2_policy(tc.json);
        ASSERT_FALSE(r) << tc.what;
        EXPECT_EQ(r.error().code, tc.code) << tc.what << ": " << r.error().message;
        EXPECT_NE(r.error().message.find(tc.message_part), std::string::npos)
            << tc.what << ": " << r.error().message;
    }
}

// json-c keeps the last of two equal keys, as libcryptsetup (which uses json-c) does: the
// policy judges the value cryptsetup will act on.
TEST(LuksPolicy, DuplicateKeysAreJudgedAsCryptsetupReadsThem) {
    auto r = check_luks2_policy("{\"segments\":{\"0\":{\"type\":\"crypt\",\"type\":\"linear\"}}}");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("type 'linear'"), std::string::npos) << r.error().message;
    EXPECT_TRUE(
        check_luks2_policy("{\"segments\":{\"0\":{\"type\":\"linear\",\"type\":\"crypt\"}}}"));
}

}  // namespace
}  // namespace imageinit::core
