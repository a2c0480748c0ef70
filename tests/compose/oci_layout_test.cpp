// Pure parts of compose: digests, index/manifest parsing, the JSON reader, tool argument lists,
// verity output parsing and the verdict on `imageinit check`.
#include "compose/oci_layout.h"

#include <gtest/gtest.h>

#include "compose/json_reader.h"
#include "compose/mkfs.h"
#include "compose/sha256.h"

namespace imageinit::compose {
namespace {

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;

TEST(Digest, Sha256HexIsAcceptedAndAnythingElseRefused) {
    EXPECT_EQ(*validate_digest(kDigest), kHex);
    EXPECT_FALSE(validate_digest("sha512:" + kHex));
    EXPECT_FALSE(validate_digest("sha256:" + std::string(64, 'A')));
    EXPECT_FALSE(validate_digest("sha256:" + std::string(63, 'a')));
    EXPECT_FALSE(validate_digest("sha256:../../../../etc/passwd" + std::string(36, 'a')));
}

TEST(Sha256, KnownAnswer) {
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Json, ParsesNestedDocumentsAndEscapes) {
    auto v = parse_json(R"({"a": [1, 2.5, true, null], "s": "x\"\u00e9\n"})");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->get("a")->array.size(), 4u);
    EXPECT_EQ(v->get_string("s"), "x\"\xc3\xa9\n");
}

TEST(Json, MalformedDocumentReportsTheOffset) {
    auto v = parse_json(R"({"a": })");
    ASSERT_FALSE(v);
    EXPECT_NE(v.error().message.find("offset"), std::string::npos);
}

TEST(Json, NumbersFollowTheRfcGrammar) {
    for (const char* good : {"0", "-0", "10", "1.5", "1e3", "1E+3", "2.5e-3", "-7"})
        EXPECT_TRUE(parse_json(good)) << good;
    for (const char* bad : {"+1", "01", "1.", ".5", "1e", "1e+", "--1", "-", "1.2.3", "0x10"})
        EXPECT_FALSE(parse_json(bad)) << bad;
}

// A descriptor size read through a double: 1e300 overflowed int64 (undefined behaviour under
// UBSan), 1.5 was read as 1. Sizes are exact integers or errors.
TEST(Json, SizesAreExactNonNegativeIntegers) {
    struct Case {
        const char* json;
        int64_t size;       // when accepted
        const char* error;  // "" = accepted
    };
    const Case kCases[] = {
        {"0", 0, ""},
        {"10", 10, ""},
        {"9223372036854775807", INT64_MAX, ""},
        {"9223372036854775808", 0, "'9223372036854775808' is too large"},
        {"18446744073709551616", 0, "'18446744073709551616' is too large"},
        {"1e300", 0, "'1e300' is not a non-negative integer"},
        {"1e3", 0, "'1e3' is not a non-negative integer"},
        {"1.5", 0, "'1.5' is not a non-negative integer"},
        {"1.0", 0, "'1.0' is not a non-negative integer"},
        {"-1", 0, "'-1' is not a non-negative integer"},
        {"-0", 0, "'-0' is not a non-negative integer"},
        {R"("10")", 0, "is not a number"},
        {"null", 0, "is not a number"},
    };
    for (const Case& c : kCases) {
        auto v = parse_json(c.json);
        ASSERT_TRUE(v) << c.json;
        auto n = json_size(*v);
        if (*c.error) {
            ASSERT_FALSE(n) << c.json;
            EXPECT_EQ(n.error().message, c.error) << c.json;
        } else {
            ASSERT_TRUE(n) << c.json << ": " << n.error().message;
            EXPECT_EQ(*n, c.size) << c.json;
        }
    }
}

TEST(Json, DescriptorWithInexactSizeIsRefusedNamingTheDigest) {
    auto v = parse_json(R"({"mediaType":"x","digest":")" + kDigest + R"(","size":1e300})");
    ASSERT_TRUE(v);
    auto d = parse_descriptor(*v);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().message,
              "descriptor " + kDigest + ": size '1e300' is not a non-negative integer");
}

std::string index_with(const std::string& entries) {
    return R"({"schemaVersion":2,"manifests":[)" + entries + "]}";
}
std::string entry(const std::string& ref, const std::string& arch = "amd64") {
    return R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kDigest +
           R"(","size":10,"platform":{"os":"linux","architecture":")" + arch +
           R"("},"annotations":{"org.opencontainers.image.ref.name":")" + ref + R"("}})";
}

TEST(Index, SingleManifestIsChosenWithoutRef) {
    auto d = select_manifest(index_with(entry("v1")), "");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->ref_name, "v1");
    EXPECT_EQ(d->size, 10);
}

TEST(Index, RefSelectsAmongSeveral) {
    auto d = select_manifest(index_with(entry("v1") + "," + entry("v2")), "v2");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->ref_name, "v2");
    auto missing = select_manifest(index_with(entry("v1")), "v9");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message, "index: no manifest named 'v9'");
}

TEST(Index, SeveralManifestsWithoutRefAskForOne) {
    auto d = select_manifest(index_with(entry("v1") + "," + entry("v2")), "");
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().message.find("--ref"), std::string::npos);
}

TEST(Manifest, LayerCompressionFollowsTheMediaType) {
    auto layer = [](const std::string& mt) {
        return R"({"mediaType":")" + mt + R"(","digest":")" + kDigest + R"(","size":1})";
    };
    std::string m = R"({"config":)" + layer("application/vnd.oci.image.config.v1+json") +
                    R"(,"layers":[)" + layer("application/vnd.oci.image.layer.v1.tar") + "," +
                    layer("application/vnd.oci.image.layer.v1.tar+gzip") + "," +
                    layer("application/vnd.oci.image.layer.v1.tar+zstd") + "," +
                    layer("application/vnd.docker.image.rootfs.diff.tar.gzip") + "]}";
    auto parsed = parse_manifest(m);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_EQ(parsed->layers.size(), 4u);
    EXPECT_EQ(parsed->layers[0].compression, Compression::kNone);
    EXPECT_EQ(parsed->layers[1].compression, Compression::kGzip);
    EXPECT_EQ(parsed->layers[2].compression, Compression::kZstd);
    EXPECT_EQ(parsed->layers[3].compression, Compression::kGzip);
    std::string encrypted = R"({"config":)" + layer("x") + R"(,"layers":[)" +
                            layer("application/vnd.oci.image.layer.v1.tar+gzip+encrypted") + "]}";
    EXPECT_FALSE(parse_manifest(encrypted));
}

TEST(Mkfs, ErofsKeepsOwnersAndFixesTimeAndUuid) {
    MkfsOptions o;
    o.epoch = 42;
    o.uuid = "u";
    auto argv = mkfs_argv(o, "src", "out.img");
    std::vector<std::string> want = {"mkfs.erofs", "-zlz4hc", "-T42", "-Uu",
                                     "--quiet",    "out.img", "src"};
    EXPECT_EQ(argv, want);
}

TEST(Mkfs, SquashfsFixesEveryTimestamp) {
    MkfsOptions o;
    o.format = ImageFormat::kSquashfs;
    o.epoch = 7;
    auto argv = mkfs_argv(o, "src", "out.img");
    auto has = [&](const std::string& a, const std::string& b) {
        for (size_t i = 0; i + 1 < argv.size(); ++i)
            if (argv[i] == a && argv[i + 1] == b) return true;
        return false;
    };
    EXPECT_TRUE(has("-all-time", "7"));
    EXPECT_TRUE(has("-mkfs-time", "7"));
    EXPECT_TRUE(has("-comp", "gzip"));
}

TEST(Mkfs, UuidFromDigestIsStableAndWellFormed) {
    std::string u = uuid_from_hex("0123456789abcdef0123456789abcdef00");
    EXPECT_EQ(u, "01234567-89ab-4def-8123-456789abcdef");
}

TEST(Mkfs, ExitCodeIsReportedWithTheLastLine) {
    RunOutput out{1, 0, "warning\nno space left\n"};
    EXPECT_EQ(mkfs_failure("mkfs.erofs", out, 3), "mkfs.erofs exited with 1: no space left");
}

TEST(Mkfs, DeathBySignalIsNamedWithAHint) {
    RunOutput segv{128 + 11, 11, "<E> erofs: walking\n"};
    EXPECT_EQ(mkfs_failure("mkfs.erofs", segv, 60000),
              "mkfs.erofs killed by signal 11 (Segmentation fault): <E> erofs: walking; hint: mkfs "
              "may have overflowed its stack on a tree 60000 levels deep");
    EXPECT_EQ(mkfs_failure("mksquashfs", segv, 4),
              "mksquashfs killed by signal 11 (Segmentation fault): <E> erofs: walking; hint: "
              "mkfs may have overflowed its stack");
    RunOutput killed{128 + 9, 9, ""};
    EXPECT_EQ(mkfs_failure("mksquashfs", killed, 4),
              "mksquashfs killed by signal 9 (Killed): ; hint: the out-of-memory killer may have "
              "ended it (a tree too large?)");
}

TEST(Verity, RootHashIsReadFromVeritysetupOutput) {
    std::string out =
        "VERITY header information for x\nUUID:    \t1234\n"
        "Root hash:      \tdeadbeef0123\nSalt: 00\n";
    EXPECT_EQ(parse_root_hash(out), "deadbeef0123");
    EXPECT_EQ(parse_root_hash("nothing"), "");
}

TEST(Check, AStubThatAcceptsDevNullOnlyWarns) {
    EXPECT_EQ(classify_check(0, "", 0).outcome, CheckOutcome::kUnavailable);
}

TEST(Check, ARealCheckIsBinding) {
    EXPECT_EQ(classify_check(0, "", 1).outcome, CheckOutcome::kPassed);
    CheckResult failed = classify_check(1, "fstab:3: mount point '/data' missing\n", 1);
    EXPECT_EQ(failed.outcome, CheckOutcome::kFailed);
    EXPECT_EQ(failed.detail, "fstab:3: mount point '/data' missing");
}

TEST(Check, MissingCommandOnlyWarns) {
    EXPECT_EQ(classify_check(2, "imageinit: unknown command 'check'", 1).outcome,
              CheckOutcome::kUnavailable);
    EXPECT_EQ(classify_check(1, "check: not implemented", 1).outcome, CheckOutcome::kUnavailable);
    EXPECT_EQ(classify_check(127, "", 1).outcome, CheckOutcome::kUnavailable);
}

}  // namespace
}  // namespace imageinit::compose
