// Pure parts of the registry source: references, WWW-Authenticate challenges, platform
// selection from an index, the auth file lookup and credential helpers' answers. Tables of
// inputs, no network.
#include <gtest/gtest.h>

#include "compose/registry/auth_file.h"
#include "compose/registry/challenge.h"
#include "compose/registry/platform.h"
#include "compose/registry/reference.h"
#include "compose/registry/retry.h"

namespace imageinit::compose::registry {
namespace {

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;

TEST(ImageReference, AcceptedFormsSplitIntoHostRepositoryAndReference) {
    struct Case {
        std::string in, host, repo, tag, digest;
    } cases[] = {
        {"127.0.0.1:5000/os/base:v1", "127.0.0.1:5000", "os/base", "v1", ""},
        {"registry.example/os", "registry.example", "os", "latest", ""},
        {"localhost/a/b/c:1.0-rc_2", "localhost", "a/b/c", "1.0-rc_2", ""},
        {"reg.example:443/a@" + kDigest, "reg.example:443", "a", "", kDigest},
        {"debian:12", "docker.io", "library/debian", "12", ""},
        {"org/image", "docker.io", "org/image", "latest", ""},
        {"index.docker.io/debian", "docker.io", "library/debian", "latest", ""},
        {"[::1]:5000/a", "[::1]:5000", "a", "latest", ""},
        {"h.example/a__b/c-d/e.f", "h.example", "a__b/c-d/e.f", "latest", ""},
    };
    for (const Case& c : cases) {
        auto r = parse_image_reference(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message;
        EXPECT_EQ(r->host, c.host) << c.in;
        EXPECT_EQ(r->repository, c.repo) << c.in;
        EXPECT_EQ(r->tag, c.tag) << c.in;
        EXPECT_EQ(r->digest, c.digest) << c.in;
    }
}

TEST(ImageReference, MalformedReferencesAreRefusedWithTheReason) {
    struct Case {
        std::string in, why;
    } cases[] = {
        {"", "empty"},
        {"h.example/Upper", "malformed repository component 'Upper'"},
        {"h.example/a:", "malformed tag ''"},
        {"h.example/a:-x", "malformed tag '-x'"},
        {"h.example/a@sha256:abc", "malformed digest"},
        {"h.example/a@md5:" + kHex, "only sha256"},
        {"h.example/a:v1@" + kDigest, "not both"},
        {"h.example:0/a", "malformed registry host"},
        {"h.example:99999/a", "malformed registry host"},
        {"-h.example/a", "malformed registry host"},
        {"h.example/", "no repository"},
        {"/a", "no repository"},
        {"h.example/a//b", "malformed repository component ''"},
        {"h.example/a/../b", "malformed repository component '..'"},
        {"h.example/" + std::string(300, 'a'), "longer than 255"},
    };
    for (const Case& c : cases) {
        auto r = parse_image_reference(c.in);
        ASSERT_FALSE(r) << c.in;
        EXPECT_NE(r.error().message.find(c.why), std::string::npos)
            << c.in << ": " << r.error().message;
    }
}

TEST(ImageReference, PrintsTheSkopeoForm) {
    EXPECT_EQ(parse_image_reference("h:5000/a/b:t")->to_string(), "docker://h:5000/a/b:t");
    EXPECT_EQ(parse_image_reference("h:5000/a@" + kDigest)->to_string(),
              "docker://h:5000/a@" + kDigest);
}

TEST(Source, TransportsAndPaths) {
    auto d = parse_source("docker://h.example/a:b");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->kind, SourceKind::kRegistry);
    EXPECT_EQ(d->image.tag, "b");
    auto o = parse_source("oci:/srv/layout:v2");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->kind, SourceKind::kOciLayout);
    EXPECT_EQ(o->dir, "/srv/layout");
    EXPECT_EQ(o->ref, "v2");
    auto o2 = parse_source("oci:layout");
    ASSERT_TRUE(o2);
    EXPECT_EQ(o2->dir, "layout");
    EXPECT_EQ(o2->ref, "");
    auto p = parse_source("/srv/root");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->kind, SourceKind::kPath);
    auto p2 = parse_source("./odd:name");
    ASSERT_TRUE(p2);
    EXPECT_EQ(p2->dir, "./odd:name");
    for (const char* bad : {"docker-archive:x.tar", "oci:", "oci:dir:", "docker://", ""}) {
        EXPECT_FALSE(parse_source(bad)) << bad;
    }
    EXPECT_NE(parse_source("containers-storage:x").error().message.find("unsupported transport"),
              std::string::npos);
}

TEST(Challenge, BearerWithQuotedParameters) {
    auto r = parse_challenges(
        R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:os/base:pull")");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].scheme, "bearer");
    EXPECT_EQ((*r)[0].param("realm"), "https://auth.example/token");
    EXPECT_EQ((*r)[0].param("service"), "registry.example");
    EXPECT_EQ((*r)[0].param("scope"), "repository:os/base:pull");
}

TEST(Challenge, SeveralChallengesEscapesAndCase) {
    struct Case {
        std::string in;
        std::vector<std::string> schemes;
        std::string realm0;
    } cases[] = {
        {R"(Basic realm="Registry Realm")", {"basic"}, "Registry Realm"},
        {R"(BASIC Realm=plain)", {"basic"}, "plain"},
        {R"(Basic realm="a", Bearer realm="https://t/x",service=s)", {"basic", "bearer"}, "a"},
        {R"(Bearer realm="q\"uote\\d" , scope="x")", {"bearer"}, "q\"uote\\d"},
        {R"(Negotiate, Basic realm=r)", {"negotiate", "basic"}, ""},
        {R"(Bearer realm = "spaced" ,, service="s")", {"bearer"}, "spaced"},
    };
    for (const Case& c : cases) {
        auto r = parse_challenges(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message;
        ASSERT_EQ(r->size(), c.schemes.size()) << c.in;
        for (size_t i = 0; i < c.schemes.size(); ++i) EXPECT_EQ((*r)[i].scheme, c.schemes[i]);
        EXPECT_EQ((*r)[0].param("realm"), c.realm0) << c.in;
    }
}

TEST(Challenge, MalformedHeadersAreErrors) {
    for (const char* bad : {"", ",,", R"(Bearer realm="open)", R"(Bearer =x)",
                            R"(Bearer realm="a" service="b")", "\"quoted\""}) {
        EXPECT_FALSE(parse_challenges(bad)) << bad;
    }
}

TEST(Challenge, TokenUrlEncodesServiceAndScope) {
    Challenge c{"bearer", {{"realm", "https://auth.example/token"}, {"service", "reg ex"}}};
    EXPECT_EQ(*token_url(c, "repository:a/b:pull"),
              "https://auth.example/token?service=reg%20ex&scope=repository%3Aa%2Fb%3Apull");
    c.params["realm"] = "https://auth.example/token?x=1";
    c.params["scope"] = "s";
    EXPECT_EQ(*token_url(c, "ignored"), "https://auth.example/token?x=1&service=reg%20ex&scope=s");
    c.params["realm"] = "file:///etc/passwd";
    EXPECT_FALSE(token_url(c, ""));
}

const char* kIndex = R"({
  "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 10,
     "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 11,
     "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
     "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 12,
     "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
     "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 13,
     "digest": "sha256:4444444444444444444444444444444444444444444444444444444444444444",
     "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 14,
     "digest": "sha256:5555555555555555555555555555555555555555555555555555555555555555",
     "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
  ]})";

TEST(PlatformSelect, PicksTheMatchingManifest) {
    struct Case {
        std::string platform;
        char digit;
    } cases[] = {
        {"linux/amd64", '2'},  {"linux/arm64", '1'},  {"linux/arm64/v8", '1'},
        {"linux/arm/v7", '3'}, {"linux/arm/v6", '4'},
    };
    for (const Case& c : cases) {
        auto r = select_platform(kIndex, *parse_platform(c.platform));
        ASSERT_TRUE(r) << c.platform << ": " << r.error().message;
        EXPECT_EQ(r->digest, "sha256:" + std::string(64, c.digit)) << c.platform;
    }
}

TEST(PlatformSelect, AmbiguousOrMissingPlatformsAreErrorsThatListTheIndex) {
    auto arm = select_platform(kIndex, *parse_platform("linux/arm"));
    ASSERT_FALSE(arm);
    EXPECT_NE(arm.error().message.find("2 manifests for linux/arm"), std::string::npos);
    auto s390 = select_platform(kIndex, *parse_platform("linux/s390x"));
    ASSERT_FALSE(s390);
    EXPECT_NE(s390.error().message.find("it has linux/arm64, linux/amd64, linux/arm/v7"),
              std::string::npos)
        << s390.error().message;
}

TEST(PlatformSelect, DockerManifestListIsAnIndexToo) {
    const char* list = R"({"schemaVersion": 2,
      "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
      "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "size": 7, "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
        "platform": {"architecture": "amd64", "os": "linux"}}]})";
    EXPECT_EQ(*document_kind(list, ""), DocumentKind::kIndex);
    EXPECT_TRUE(select_platform(list, {"linux", "amd64", ""}));
}

TEST(DocumentKind, FromMediaTypeOrContentTypeOrShape) {
    EXPECT_EQ(*document_kind(R"({"schemaVersion":2,"layers":[]})",
                             "application/vnd.docker.distribution.manifest.v2+json; charset=x"),
              DocumentKind::kManifest);
    EXPECT_EQ(*document_kind(R"({"schemaVersion":2,"manifests":[]})", ""), DocumentKind::kIndex);
    EXPECT_EQ(*document_kind(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json"})",
                             "application/vnd.oci.image.index.v1+json"),
              DocumentKind::kManifest);
    auto v1 = document_kind(R"({"schemaVersion":1,"fsLayers":[]})", "");
    ASSERT_FALSE(v1);
    EXPECT_NE(v1.error().message.find("schema 1"), std::string::npos);
    EXPECT_FALSE(document_kind(R"({"mediaType":"text/html"})", ""));
    EXPECT_FALSE(document_kind("<html>", "text/html"));
}

TEST(PlatformParse, Forms) {
    EXPECT_EQ(parse_platform("linux/arm64/v8")->variant, "v8");
    for (const char* bad :
         {"linux", "linux/", "/amd64", "linux/amd64/v8/x", "Linux/amd64", "linux/am d64"})
        EXPECT_FALSE(parse_platform(bad)) << bad;
}

TEST(AuthFile, CandidatesInContainersOrder) {
    AuthEnv env;
    env.home = "/home/u";
    env.xdg_runtime_dir = "/run/user/1";
    env.registry_auth_file = "/etc/reg.json";
    EXPECT_EQ(auth_file_candidates(env),
              (std::vector<std::string>{"/etc/reg.json", "/run/user/1/containers/auth.json",
                                        "/home/u/.config/containers/auth.json",
                                        "/home/u/.docker/config.json", "/home/u/.dockercfg"}));
    env.docker_config = "/dc";
    env.xdg_config_home = "/cfg";
    env.registry_auth_file.clear();
    EXPECT_EQ(
        auth_file_candidates(env),
        (std::vector<std::string>{"/run/user/1/containers/auth.json", "/cfg/containers/auth.json",
                                  "/dc/config.json", "/home/u/.dockercfg"}));
    env.authfile = "/given.json";
    EXPECT_EQ(auth_file_candidates(env), (std::vector<std::string>{"/given.json"}));
}

TEST(AuthFile, MostSpecificEntryWins) {
    // "dXNlcjpwYXNz" = "user:pass", "bnM6bnNwdw==" = "ns:nspw", "aHViOmh1YnB3" = "hub:hubpw"
    const char* json = R"({"auths": {
        "reg.example:5000": {"auth": "dXNlcjpwYXNz"},
        "reg.example:5000/team": {"auth": "bnM6bnNwdw=="},
        "https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"},
        "helper.example": {}}})";
    struct Case {
        std::string host, repo, user;
    } cases[] = {
        {"reg.example:5000", "other/x", "user"},
        {"reg.example:5000", "team/x", "ns"},
        {"reg.example:5000", "team", "ns"},
        {"reg.example:5000", "teamx/y", "user"},
        {"docker.io", "library/debian", "hub"},
        {"helper.example", "a", ""},
        {"reg.example", "a", ""},
    };
    for (const Case& c : cases) {
        auto r = lookup_credentials(json, c.host, c.repo);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(*r ? (*r)->username : std::string(), c.user) << c.host << "/" << c.repo;
    }
    EXPECT_EQ((*lookup_credentials(json, "reg.example:5000", "team/x"))->password, "nspw");
}

TEST(AuthFile, MalformedEntriesNameTheKey) {
    auto r = lookup_credentials(R"({"auths": {"h": {"auth": "***"}}})", "h", "a");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("'h'"), std::string::npos);
    EXPECT_FALSE(lookup_credentials(R"({"auths": {"h": {"auth": "bm9jb2xvbg=="}}})", "h", "a"));
    EXPECT_FALSE(lookup_credentials("{", "h", "a"));
}

TEST(AuthFile, CredHelperForTheHostThenAuthsThenCredsStore) {
    // "dXNlcjpwYXNz" = "user:pass"
    const char* json = R"({
        "auths": {"a.example": {"auth": "dXNlcjpwYXNz"}, "b.example:5000": {},
                  "h.example": {"auth": "dXNlcjpwYXNz"}},
        "credHelpers": {"h.example": "ecr-login", "https://index.docker.io/v1/": "hub"},
        "credsStore": "desktop"})";
    struct Case {
        std::string host, user, helper;
    } cases[] = {
        {"a.example", "user", ""},          // an "auths" entry with credentials
        {"b.example:5000", "", "desktop"},  // an empty entry: docker login put them in the store
        {"c.example", "", "desktop"},       // nothing for the host: the default store
        {"h.example", "", "ecr-login"},     // credHelpers wins over "auths"
        {"docker.io", "", "hub"},           // keys are normalised as for "auths"
    };
    for (const Case& c : cases) {
        auto r = lookup_auth(json, c.host, "repo");
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->credentials ? r->credentials->username : "", c.user) << c.host;
        EXPECT_EQ(r->helper, c.helper) << c.host;
    }
    auto none = lookup_auth(R"({"auths": {}})", "a.example", "repo");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->credentials);
    EXPECT_EQ(none->helper, "");
}

TEST(AuthFile, HelperNamesThatAreNotProgramNamesAreRefused) {
    for (const char* bad :
         {R"({"credsStore": "../../bin/sh"})", R"({"credsStore": ""})", R"({"credsStore": 5})",
          R"({"credHelpers": {"h": "a b"}})", R"({"credHelpers": {"h": ".hidden"}})"}) {
        auto r = lookup_auth(bad, "h", "repo");
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("not a credential helper name"), std::string::npos)
            << r.error().message;
    }
}

TEST(CredentialHelper, ServerUrlAndAnswers) {
    EXPECT_EQ(helper_server_url("docker.io"), "https://index.docker.io/v1/");
    EXPECT_EQ(helper_server_url("127.0.0.1:5000"), "127.0.0.1:5000");
    auto c =
        parse_helper_output(R"({"ServerURL": "r.example", "Username": "u", "Secret": "s:3"})", "x");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->username, "u");
    EXPECT_EQ(c->password, "s:3");
    struct Case {
        const char* output;
        const char* error;
    } cases[] = {
        {R"({"Username": "<token>", "Secret": "refresh"})", "identity token"},
        {R"({"Secret": "s"})", "has no \"Username\""},
        {"credentials not found in native keychain", "not a JSON object"},
        {"[]", "not a JSON object"},
    };
    for (const Case& k : cases) {
        auto r = parse_helper_output(k.output, "pass");
        ASSERT_FALSE(r) << k.output;
        EXPECT_NE(r.error().message.find("credential helper 'docker-credential-pass'"),
                  std::string::npos);
        EXPECT_NE(r.error().message.find(k.error), std::string::npos) << r.error().message;
    }
}

TEST(AuthFile, Base64AndCreds) {
    EXPECT_EQ(*base64_decode("YWJj"), "abc");
    EXPECT_EQ(*base64_decode("YWI="), "ab");
    EXPECT_EQ(*base64_decode("YQ=="), "a");
    EXPECT_EQ(*base64_decode(""), "");
    for (const char* bad : {"YQ", "Y===", "YQ==YWJj", "YW*j"})
        EXPECT_FALSE(base64_decode(bad)) << bad;
    EXPECT_EQ(parse_creds("u:p:q")->password, "p:q");
    EXPECT_EQ(parse_creds("u")->password, "");
    EXPECT_FALSE(parse_creds(":p"));
}

TEST(Retry, TransientFailuresAreRetriedWithCappedBackoff) {
    for (long s : {429L, 500L, 502L, 503L, 504L}) EXPECT_TRUE(retryable_status(s)) << s;
    for (long s : {200L, 206L, 401L, 403L, 404L, 416L, 501L})
        EXPECT_FALSE(retryable_status(s)) << s;
    EXPECT_TRUE(retryable_transport(CURLE_COULDNT_CONNECT));
    EXPECT_TRUE(retryable_transport(CURLE_PARTIAL_FILE));
    EXPECT_FALSE(retryable_transport(CURLE_PEER_FAILED_VERIFICATION));
    EXPECT_FALSE(retryable_transport(CURLE_OK));
    EXPECT_EQ(backoff_ms(1, ""), 500);
    EXPECT_EQ(backoff_ms(2, ""), 1000);
    EXPECT_EQ(backoff_ms(4, ""), 4000);
    EXPECT_EQ(backoff_ms(20, ""), 30000);
    EXPECT_EQ(backoff_ms(1, "7"), 7000);                              // Retry-After in seconds
    EXPECT_EQ(backoff_ms(1, "3600"), 30000);                          // capped
    EXPECT_EQ(backoff_ms(2, "Wed, 21 Oct 2026 07:28:00 GMT"), 1000);  // a date: our own backoff
}

}  // namespace
}  // namespace imageinit::compose::registry
