// Unit tests for core/path_rules: normalisation, refused targets, containment, joining, quoting.
#include "core/path_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace imageinit::core {
namespace {

struct NormalizeCase {
    std::string input;
    std::string expected;
};

TEST(PathRules, NormalizeCollapsesSlashesDotsAndTrailingSlash) {
    const NormalizeCase cases[] = {
        {"/", "/"},
        {"//", "/"},
        {"/.", "/"},
        {"/etc", "/etc"},
        {"/etc/", "/etc"},
        {"//etc//ssh//", "/etc/ssh"},
        {"/etc/./ssh", "/etc/ssh"},
        {"/./etc/.", "/etc"},
        {"/a b/c,d:e\\f", "/a b/c,d:e\\f"},  // odd but harmless characters are kept
        {"/.hidden/...", "/.hidden/..."},    // only ".." itself is special
        {"/data/caf\xc3\xa9", "/data/caf\xc3\xa9"},
    };
    for (const auto& c : cases) {
        auto r = normalize_path(c.input);
        ASSERT_TRUE(r.has_value()) << c.input << ": " << r.error().message;
        EXPECT_EQ(*r, c.expected) << c.input;
    }
}

struct RefuseCase {
    std::string input;
    std::string message;
};

TEST(PathRules, NormalizeRefusesOddPathsWithOneLineMessages) {
    const std::string long_component(256, 'x');
    const RefuseCase cases[] = {
        {"", "path is empty"},
        {"etc", "path 'etc' is not absolute"},
        {"./etc", "path './etc' is not absolute"},
        {"/etc/../proc", "path '/etc/../proc' contains a '..' component"},
        {"/..", "path '/..' contains a '..' component"},
        {"/a\tb", "path '/a\\x09b' contains a control character"},
        {"/a\nb", "path '/a\\x0ab' contains a control character"},
        {std::string("/a\0b", 4), "path '/a\\x00b' contains a control character"},
        {"/a\x7f", "path '/a\\x7f' contains a control character"},
        {"/caf\xe9", "path '/caf\\xe9' is not valid UTF-8"},
        {"/\xc0\xaf", "path '/\\xc0\\xaf' is not valid UTF-8"},           // overlong '/'
        {"/\xed\xa0\x80", "path '/\\xed\\xa0\\x80' is not valid UTF-8"},  // surrogate
        {"/" + long_component,
         "path component '" + long_component.substr(0, 200) + "'... is longer than 255 bytes"},
    };
    for (const auto& c : cases) {
        auto r = normalize_path(c.input);
        ASSERT_FALSE(r.has_value()) << c.input;
        EXPECT_EQ(r.error().message, c.message);
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    }
}

TEST(PathRules, NormalizeAcceptsComponentOfExactlyNameMax) {
    std::string path = "/" + std::string(255, 'x');
    EXPECT_TRUE(normalize_path(path).has_value());
}

TEST(PathRules, NormalizeRefusesResultOfPathMaxOrMore) {
    // 16 components of 255 bytes plus slashes: 4096 bytes, one more than fits with the NUL.
    std::string path;
    for (int i = 0; i < 16; ++i) path += "/" + std::string(255, 'a' + i);
    ASSERT_EQ(path.size(), 4096u);
    auto r = normalize_path(path);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("is longer than 4095 bytes"), std::string::npos);

    path.pop_back();  // 4095 bytes: fits
    EXPECT_TRUE(normalize_path(path).has_value());
}

TEST(PathRules, NormalizeMeasuresLengthAfterCollapsing) {
    // Long only because of repeated slashes: the normalised path is short and fine.
    std::string path = std::string(5000, '/') + "etc";
    auto r = normalize_path(path);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, "/etc");
}

TEST(PathRules, RefusesRootProcSysDevAndBelow) {
    const std::pair<std::string, bool> cases[] = {
        {"/", true},        {"/proc", true},          {"/proc/sys/kernel", true},
        {"/sys", true},     {"/sys/fs/cgroup", true}, {"/dev", true},
        {"/dev/shm", true}, {"/procfs", false},       {"/system", false},
        {"/device", false}, {"/etc", false},          {"/var/dev", false},
        {"/run", false},    {"/tmp", false},
    };
    for (const auto& [path, refused] : cases) {
        EXPECT_EQ(is_refused_target(path), refused) << path;
    }
    EXPECT_EQ(refused_area("/"), "/");
    EXPECT_EQ(refused_area("/dev/pts"), "/dev");
    EXPECT_EQ(refused_area("/sys"), "/sys");
    EXPECT_EQ(refused_area("/srv"), "");
}

TEST(PathRules, SameOrUnderIsComponentWise) {
    EXPECT_TRUE(is_same_or_under("/var", "/var"));
    EXPECT_TRUE(is_same_or_under("/var/lib", "/var"));
    EXPECT_TRUE(is_same_or_under("/var", "/"));
    EXPECT_TRUE(is_same_or_under("/", "/"));
    EXPECT_FALSE(is_same_or_under("/var2", "/var"));
    EXPECT_FALSE(is_same_or_under("/va", "/var"));
    EXPECT_FALSE(is_same_or_under("/var", "/var/lib"));
    EXPECT_FALSE(is_same_or_under("/var-lib", "/var"));
}

TEST(PathRules, JoinUnderPlacesPathBelowRoot) {
    EXPECT_EQ(join_under("/sysroot", "/etc"), "/sysroot/etc");
    EXPECT_EQ(join_under("/sysroot/", "/etc/ssh"), "/sysroot/etc/ssh");
    EXPECT_EQ(join_under("/sysroot", "/"), "/sysroot");
    EXPECT_EQ(join_under("/", "/etc"), "/etc");
    EXPECT_EQ(join_under("/", "/"), "/");
}

TEST(PathRules, QuoteTextEscapesControlAndInvalidBytesAndShortensLongText) {
    EXPECT_EQ(quote_text("/etc"), "'/etc'");
    EXPECT_EQ(quote_text("a\nb"), "'a\\x0ab'");
    EXPECT_EQ(quote_text("caf\xc3\xa9"), "'caf\xc3\xa9'");
    EXPECT_EQ(quote_text("caf\xe9"), "'caf\\xe9'");
    EXPECT_EQ(quote_text(std::string(300, 'a')), "'" + std::string(200, 'a') + "'...");
}

}  // namespace
}  // namespace imageinit::core
