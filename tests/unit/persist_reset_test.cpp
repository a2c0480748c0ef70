// Factory reset, the pure part: the request file's text form and the decision table
// (core/persist_reset.h). The executor's crash-point tests: reset_persist_test.cpp.
#include "core/persist_reset.h"

#include <gtest/gtest.h>

namespace imageinit {
namespace {

using core::PersistFound;
using core::PersistKind;
using core::ResetDecision;
using core::ResetInput;
using core::ResetOp;
using core::ResetRequest;
using core::ResetTarget;

// ---- the request file

TEST(ResetRequest, PlainRequestRoundTrips) {
    std::string text = core::encode_reset_request(ResetRequest{});
    EXPECT_EQ(text, "imageinit-reset-request 1\n");
    auto back = core::parse_reset_request(text);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_FALSE(back->started);
}

TEST(ResetRequest, StartedRequestRoundTrips) {
    ResetRequest r{ResetTarget{PersistKind::kLuks2, "PARTUUID=0fc63daf-3", "PERSIST",
                               "1b4e28ba-2fa1-11d2-883f-b9a761bde3fb"}};
    auto back = core::parse_reset_request(core::encode_reset_request(r));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, r);
    ResetRequest bare{ResetTarget{PersistKind::kExt4, "/dev/vda3", "", ""}};
    back = core::parse_reset_request(core::encode_reset_request(bare));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, bare);
}

TEST(ResetRequest, MalformedFilesNameTheLine) {
    struct Row {
        std::string text, error;
    };
    const std::vector<Row> rows = {
        {"", "reset-request:1: empty file"},
        {"hello\n", "reset-request:1: not a reset request"},
        {"imageinit-reset-request 1", "reset-request:1: no newline at the end"},
        {"imageinit-reset-request 1\nstarted xfs\n", "reset-request:2: unknown kind 'xfs'"},
        {"imageinit-reset-request 1\ndevice /dev/vda3\n", "reset-request:2: 'device' before"},
        {"imageinit-reset-request 1\nstarted ext4\n", "'started' without a 'device' line"},
        {"imageinit-reset-request 1\nstarted ext4\ndevice /dev/a\ndevice /dev/b\n",
         "reset-request:4: 'device' given twice"},
        {"imageinit-reset-request 1\nstarted ext4\ndevice /dev/a\nlabel a\x01\n",
         "reset-request:4: 'label' needs a value without control characters"},
        {"imageinit-reset-request 1\nstarted ext4\ndevice /dev/a\ncolour red\n",
         "reset-request:4: unknown key 'colour'"},
        {"imageinit-reset-request 1\n" + std::string(5000, 'x') + "\n", "larger than 4096"},
    };
    for (const auto& row : rows) {
        auto r = core::parse_reset_request(row.text);
        ASSERT_FALSE(r) << row.text;
        EXPECT_NE(r.error().message.find(row.error), std::string::npos)
            << r.error().message << " (wanted " << row.error << ")";
    }
}

// ---- the decision

PersistFound found(const std::string& fstype, const std::string& stable = "PARTUUID=p3") {
    return PersistFound{"/dev/vda3", stable, fstype, "PERSIST", "u-1"};
}

TEST(ResetDecide, NothingAskedNothingDone) {
    ResetInput in;
    in.found = found("ext4");
    auto d = core::decide_reset(in);
    EXPECT_FALSE(d.reset);
    EXPECT_TRUE(d.refusal.empty());
    EXPECT_TRUE(d.ops.empty());
}

TEST(ResetDecide, OperationsPerKindAndOrigin) {
    using O = ResetOp;
    struct Row {
        const char* name;
        ResetInput in;
        std::vector<O> ops;
        ResetTarget target;
        std::string why;
    };
    const ResetTarget luks_started{PersistKind::kLuks2, "PARTUUID=p9", "P2", "u-9"};
    const std::vector<Row> rows = {
        {"request, ext4",
         {ResetRequest{}, false, found("ext4")},
         {O::kMarkStarted, O::kMakeFs, O::kClearRequest},
         {PersistKind::kExt4, "PARTUUID=p3", "PERSIST", "u-1"},
         "requested by 'imageinit reset'"},
        {"request, LUKS2",
         {ResetRequest{}, false, found("crypto_LUKS")},
         {O::kMarkStarted, O::kWriteKey, O::kLuksFormat, O::kMakeFs, O::kClearRequest},
         {PersistKind::kLuks2, "PARTUUID=p3", "PERSIST", "u-1"},
         "requested by 'imageinit reset'"},
        {"command line only",
         {std::nullopt, true, found("ext4")},
         {O::kMarkStarted, O::kMakeFs, O::kClearRequest},
         {PersistKind::kExt4, "PARTUUID=p3", "PERSIST", "u-1"},
         "imageinit.reset=persist"},
        {"no partition uuid: the device path",
         {ResetRequest{}, false, found("ext4", "")},
         {O::kMarkStarted, O::kMakeFs, O::kClearRequest},
         {PersistKind::kExt4, "/dev/vda3", "PERSIST", "u-1"},
         "requested by 'imageinit reset'"},
        // Resuming trusts the request, not the probe: the partition may be unrecognisable now
        // (or not found at all), and a torn LUKS2 header must not come back as plain ext4.
        {"resume, partition unrecognisable",
         {ResetRequest{luks_started}, false, found("")},
         {O::kWriteKey, O::kLuksFormat, O::kMakeFs, O::kClearRequest},
         luks_started,
         "resuming a reset a power cut interrupted"},
        {"resume, partition not found",
         {ResetRequest{luks_started}, false, std::nullopt},
         {O::kWriteKey, O::kLuksFormat, O::kMakeFs, O::kClearRequest},
         luks_started,
         "resuming a reset a power cut interrupted"},
    };
    for (const auto& row : rows) {
        auto d = core::decide_reset(row.in);
        EXPECT_TRUE(d.reset) << row.name;
        EXPECT_TRUE(d.refusal.empty()) << row.name;
        EXPECT_EQ(d.ops, row.ops) << row.name;
        EXPECT_EQ(d.target, row.target) << row.name;
        EXPECT_EQ(d.why, row.why) << row.name;
    }
}

TEST(ResetDecide, RefusesWithoutAPartitionOrWithUnknownContent) {
    ResetInput none{ResetRequest{}, false, std::nullopt};
    auto d = core::decide_reset(none);
    EXPECT_FALSE(d.reset);
    EXPECT_NE(d.refusal.find("no persistent partition found (the request stays)"),
              std::string::npos)
        << d.refusal;
    ResetInput xfs{std::nullopt, true, found("xfs")};
    d = core::decide_reset(xfs);
    EXPECT_FALSE(d.reset);
    EXPECT_NE(d.refusal.find("/dev/vda3 holds 'xfs', not ext4 or LUKS2"), std::string::npos)
        << d.refusal;
    ResetInput blank{ResetRequest{}, false, found("")};
    EXPECT_FALSE(core::decide_reset(blank).reset);
}

}  // namespace
}  // namespace imageinit
