// The OCI whiteout rules (image-spec layer.md, "Whiteouts" and "Opaque Whiteout"), entry by
// entry, plus the ordering rule: a layer's whiteouts act on the lower layers only.
#include "compose/whiteout.h"

#include <gtest/gtest.h>

namespace imageinit::compose {
namespace {

struct Case {
    const char* entry;
    EntryKind kind;
    const char* path;
    const char* target;
};

// Entry names as they appear in layer tars (with and without "./", trailing slashes).
const Case kCases[] = {
    // layer.md: "./etc/.wh.my-app-config" deletes "./etc/my-app-config" from lower layers.
    {"./etc/.wh.my-app-config", EntryKind::kWhiteout, "etc/.wh.my-app-config", "etc/my-app-config"},
    {"etc/.wh.my-app.d", EntryKind::kWhiteout, "etc/.wh.my-app.d", "etc/my-app.d"},
    {".wh.top", EntryKind::kWhiteout, ".wh.top", "top"},
    // layer.md: "a/.wh..wh..opq" makes a/ opaque: lower content under a/ is hidden.
    {"a/.wh..wh..opq", EntryKind::kOpaque, "a/.wh..wh..opq", "a"},
    {"./.wh..wh..opq", EntryKind::kOpaque, ".wh..wh..opq", ""},
    // Other ".wh..wh." names are reserved (AUFS hard-link and metadata dirs): not content.
    {".wh..wh.plnk/123.456", EntryKind::kIgnore, ".wh..wh.plnk/123.456", ""},
    {".wh..wh.aufs", EntryKind::kIgnore, ".wh..wh.aufs", ""},
    // A name merely containing ".wh." is ordinary content.
    {"usr/share/doc/a.wh.b", EntryKind::kApply, "usr/share/doc/a.wh.b", ""},
    {"./usr/bin/", EntryKind::kApply, "usr/bin", ""},
    {"/etc//passwd", EntryKind::kApply, "etc/passwd", ""},
    {"./", EntryKind::kApply, "", ""},
    // Malformed whiteouts and escapes are refused.
    {"etc/.wh.", EntryKind::kReject, "", ""},
    {"etc/.wh..", EntryKind::kReject, "", ""},
    {"../etc/passwd", EntryKind::kReject, "", ""},
    {"a/../../b", EntryKind::kReject, "", ""},
    {"a/.wh.b/c", EntryKind::kReject, "", ""},
};

class WhiteoutTable : public testing::TestWithParam<Case> {};

TEST_P(WhiteoutTable, EntryIsClassifiedAsTheSpecSays) {
    const Case& c = GetParam();
    EntryDecision d = classify_entry(c.entry);
    EXPECT_EQ(d.kind, c.kind) << c.entry << " (" << d.reason << ")";
    if (c.kind == EntryKind::kReject) {
        EXPECT_FALSE(d.reason.empty()) << c.entry;
        return;
    }
    EXPECT_EQ(d.path, c.path) << c.entry;
    EXPECT_EQ(d.target, c.target) << c.entry;
}

INSTANTIATE_TEST_SUITE_P(OciImageSpec, WhiteoutTable, testing::ValuesIn(kCases));

TEST(Whiteout, DotDotInPathNamesTheEntryInTheError) {
    auto r = normalize_entry_path("a/../../etc/shadow");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("'a/../../etc/shadow'"), std::string::npos);
}

TEST(LayerPlan, WhiteoutsAndOpaqueMarkersComeBeforeTheLayersOwnContent) {
    // The tar order is arbitrary: the marker may follow the files it must not hide.
    auto plan = plan_layer({"a/", "a/b/", "a/b/c/", "a/b/c/foo", "a/.wh..wh..opq", "x/.wh.y"});
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->opaque_dirs, std::vector<std::string>{"a"});
    EXPECT_EQ(plan->deletions, std::vector<std::string>{"x/y"});
    // a/b/c/foo stays: files of the same layer are never hidden by its own whiteouts.
    EXPECT_EQ(plan->content, (std::vector<std::string>{"a", "a/b", "a/b/c", "a/b/c/foo"}));
}

TEST(LayerPlan, ReplacedPathIsDeletedThenAddedAgain) {
    auto plan = plan_layer({"etc/.wh.conf", "etc/conf"});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->deletions, std::vector<std::string>{"etc/conf"});
    EXPECT_EQ(plan->content, std::vector<std::string>{"etc/conf"});
}

TEST(LayerPlan, ContentIsOrderedParentsFirstWhateverTheArchiveOrder) {
    auto plan = plan_layer({"a/b/c", "a-b", "a/b", "a"});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->content, (std::vector<std::string>{"a", "a-b", "a/b", "a/b/c"}));
}

TEST(LayerPlan, OneEscapingEntryRefusesTheWholeLayer) {
    auto plan = plan_layer({"etc/ok", "../../outside"});
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("escapes the layer root"), std::string::npos);
}

TEST(LayerPlan, ReservedNamesAreListedAsIgnored) {
    auto plan = plan_layer({".wh..wh.aufs", "f"});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->ignored, std::vector<std::string>{".wh..wh.aufs"});
    EXPECT_EQ(plan->content, std::vector<std::string>{"f"});
}

}  // namespace
}  // namespace imageinit::compose
