// Bootstrap planning (core/bootstrap_plan.h): layout sizes, refusals, sizes on the command line.
#include "core/bootstrap_plan.h"

#include <gtest/gtest.h>

namespace imageinit::core {
namespace {

constexpr uint64_t kGiB = 1024 * kMiB;

BootstrapSizes sizes(uint64_t disk, uint64_t image = 100 * kMiB) {
    BootstrapSizes s;
    s.disk = disk;
    s.image = image;
    s.boot_files = 20 * kMiB;
    return s;
}

TEST(BootstrapLayout, EspStatePersistInOrderAlignedPersistTakesTheRest) {
    auto l = plan_layout(sizes(4 * kGiB), "/dev/vdb");
    ASSERT_TRUE(l) << l.error().message;
    ASSERT_EQ(l->parts.size(), 3u);
    EXPECT_EQ(l->parts[0].name, "esp");
    EXPECT_EQ(l->parts[0].type_guid, kTypeEsp);
    EXPECT_EQ(l->parts[0].label, "ESP");
    EXPECT_EQ(l->parts[0].start, kMiB);
    EXPECT_EQ(l->parts[0].size, 64 * kMiB);  // 2 x 20 MiB + 16 MiB < 64 MiB
    EXPECT_EQ(l->parts[1].label, "STATE");
    EXPECT_EQ(l->parts[1].start, 65 * kMiB);
    EXPECT_EQ(l->parts[1].size, (250 + 64) * kMiB);  // 2 x 1.25 x 100 MiB + 64 MiB
    EXPECT_EQ(l->parts[2].label, "PERSIST");
    EXPECT_EQ(l->parts[2].fs, "ext4");
    EXPECT_EQ(l->parts[2].start, (65 + 314) * kMiB);
    EXPECT_EQ(l->parts[2].start + l->parts[2].size, 4 * kGiB - kMiB);  // backup GPT room
    for (const auto& p : l->parts) EXPECT_EQ(p.start % kMiB, 0u) << p.name;
}

TEST(BootstrapLayout, SizesFollowTheInputs) {
    struct Row {
        const char* what;
        uint64_t image, recovery, boot_files, persist;
        uint64_t esp, state, persist_out;
    } rows[] = {
        {"small image, persist size given", 8 * kMiB, 0, 8 * kMiB, 100 * kMiB, 64 * kMiB, 84 * kMiB,
         100 * kMiB},
        {"recovery adds its size to STATE", 8 * kMiB, 30 * kMiB, 8 * kMiB, 100 * kMiB, 64 * kMiB,
         114 * kMiB, 100 * kMiB},
        {"large boot files grow the ESP", 8 * kMiB, 0, 100 * kMiB, 100 * kMiB, 216 * kMiB,
         84 * kMiB, 100 * kMiB},
        {"persist size rounds up to MiB", 8 * kMiB, 0, 8 * kMiB, 100 * kMiB + 1, 64 * kMiB,
         84 * kMiB, 101 * kMiB},
    };
    for (const auto& r : rows) {
        BootstrapSizes s = sizes(2 * kGiB, r.image);
        s.recovery = r.recovery;
        s.boot_files = r.boot_files;
        s.persist = r.persist;
        auto l = plan_layout(s, "/dev/vdb");
        ASSERT_TRUE(l) << r.what << ": " << l.error().message;
        EXPECT_EQ(l->parts[0].size, r.esp) << r.what;
        EXPECT_EQ(l->parts[1].size, r.state) << r.what;
        EXPECT_EQ(l->parts[2].size, r.persist_out) << r.what;
    }
}

TEST(BootstrapLayout, EncryptedPersistIsMarkedLuks) {
    for (auto e : {PersistEncryption::kKeyFile, PersistEncryption::kTpm2}) {
        BootstrapSizes s = sizes(kGiB);
        s.encryption = e;
        auto l = plan_layout(s, "/dev/vdb");
        ASSERT_TRUE(l);
        EXPECT_EQ(l->parts[2].fs, "luks2+ext4");
    }
}

TEST(BootstrapPersistKey, EncryptPersistValues) {
    struct Row {
        const char* value;
        bool ok;
        PersistEncryption want;
    } rows[] = {
        {"", true, PersistEncryption::kKeyFile},
        {"=keyfile", true, PersistEncryption::kKeyFile},
        {"=tpm2", true, PersistEncryption::kTpm2},
        {"=tpm", false, {}},
        {"=TPM2", false, {}},
        {"=", false, {}},
    };
    for (const auto& r : rows) {
        auto e = parse_encrypt_persist(r.value);
        ASSERT_EQ(static_cast<bool>(e), r.ok) << "'" << r.value << "'";
        if (r.ok) {
            EXPECT_EQ(*e, r.want) << "'" << r.value << "'";
        }
    }
    auto e = parse_encrypt_persist("=tpm");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().message, "--encrypt-persist takes =keyfile or =tpm2, not 'tpm'");
}

TEST(BootstrapPersistKey, KeyFileKeepsTheFormatKeyOnStateAndSealsNothing) {
    auto p = plan_persist_key(PersistEncryption::kKeyFile, {"a"});
    EXPECT_TRUE(p.luks);
    EXPECT_TRUE(p.key_file);
    EXPECT_FALSE(p.verity);
    EXPECT_FALSE(p.seal_to_tpm);
    EXPECT_FALSE(p.retire_format_key);
    EXPECT_TRUE(p.sealed_slots.empty());
}

TEST(BootstrapPersistKey, Tpm2SealsEverySlotWrittenAndLeavesNoKeyOnDisk) {
    auto p = plan_persist_key(PersistEncryption::kTpm2, {"a", "recovery"});
    EXPECT_TRUE(p.luks);
    EXPECT_FALSE(p.key_file);
    EXPECT_TRUE(p.verity);
    EXPECT_TRUE(p.seal_to_tpm);
    EXPECT_TRUE(p.retire_format_key);
    EXPECT_EQ(p.sealed_slots, (std::vector<std::string>{"a", "recovery"}));
}

TEST(BootstrapPersistKey, PlainPersistHasNoKeyAtAll) {
    auto p = plan_persist_key(PersistEncryption::kNone, {"a"});
    EXPECT_FALSE(p.luks || p.key_file || p.verity || p.seal_to_tpm || p.retire_format_key);
}

TEST(BootstrapLayout, TooSmallDiskSaysHowMuchIsNeeded) {
    // 1 + 64 + 314 + 32 + 1 MiB
    auto l = plan_layout(sizes(400 * kMiB), "/dev/vdb");
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().message,
              "disk '/dev/vdb' is too small: 400 MiB, the layout needs 412 MiB (ESP 64 MiB, "
              "STATE 314 MiB, PERSIST 32 MiB)");
    EXPECT_TRUE(plan_layout(sizes(412 * kMiB), "/dev/vdb"));
}

TEST(BootstrapLayout, PersistSizeBelowTheMinimumIsRefused) {
    BootstrapSizes s = sizes(kGiB);
    s.persist = kMiB;
    auto l = plan_layout(s, "/dev/vdb");
    ASSERT_FALSE(l);
    EXPECT_NE(l.error().message.find("--persist-size 1 MiB"), std::string::npos);
}

TEST(BootstrapSize, ParsesUnitsAndRefusesGarbage) {
    struct Row {
        const char* text;
        uint64_t bytes;  // 0: refused
    } rows[] = {
        {"4096", 4096},
        {"100K", 100 * 1024},
        {"512M", 512 * kMiB},
        {"2G", 2 * kGiB},
        {"1T", 1024 * kGiB},
        {"3MiB", 3 * kMiB},
        {"", 0},
        {"M", 0},
        {"12X", 0},
        {"-1G", 0},
        {"1.5G", 0},
        {"99999999999999999999", 0},
        {"99999999999T", 0},
    };
    for (const auto& r : rows) {
        auto v = parse_size(r.text);
        if (r.bytes) {
            ASSERT_TRUE(v) << r.text << ": " << v.error().message;
            EXPECT_EQ(*v, r.bytes) << r.text;
        } else {
            EXPECT_FALSE(v) << r.text;
        }
    }
}

TEST(BootstrapSize, FormatsReadably) {
    EXPECT_EQ(format_size(512), "512 B");
    EXPECT_EQ(format_size(64 * kMiB), "64 MiB");
    EXPECT_EQ(format_size(kGiB + kGiB / 2), "1.5 GiB");
}

TEST(BootstrapDisk, DecisionTable) {
    auto layout = *plan_layout(sizes(kGiB), "/dev/vdb");
    std::vector<PartitionPlan> ours;
    for (auto p : layout.parts) {
        p.fs.clear();
        p.label.clear();
        ours.push_back(p);
    }
    auto moved = ours;
    moved[2].size -= kMiB;
    std::vector<PartitionPlan> foreign = {{"root", kTypeLinuxData, "", "", kMiB, 500 * kMiB}};
    struct Row {
        const char* what;
        std::vector<std::string> in_use;
        std::vector<PartitionPlan> parts;
        bool loader, slots_match, wipe;
        const char* expect;  // action name, or the start of the error
    } rows[] = {
        {"blank disk", {}, {}, false, false, false, "lay out"},
        {"blank disk, wipe", {}, {}, false, false, true, "lay out"},
        {"in use beats everything",
         {"'/dev/vdb1' is mounted on '/'"},
         {},
         false,
         false,
         true,
         "disk '/dev/vdb' is in use ('/dev/vdb1' is mounted on '/')"},
        {"foreign partitions refused",
         {},
         foreign,
         false,
         false,
         false,
         "disk '/dev/vdb' has 1 partition; --wipe"},
        {"foreign partitions, wipe", {}, foreign, false, false, true, "lay out"},
        {"our layout unfinished: resume", {}, ours, false, false, false, "resume"},
        {"our layout unfinished, wipe: lay out", {}, ours, false, false, true, "lay out"},
        {"finished, same image: nothing", {}, ours, true, true, false, "nothing to do"},
        {"finished, same image, wipe: still nothing", {}, ours, true, true, true, "nothing to do"},
        {"finished, other image: refused",
         {},
         ours,
         true,
         false,
         false,
         "disk '/dev/vdb' is a bootstrapped device with another image"},
        {"finished, other image, wipe", {}, ours, true, false, true, "lay out"},
        {"a partition moved is not ours",
         {},
         moved,
         false,
         false,
         false,
         "disk '/dev/vdb' has 3 partitions; --wipe"},
    };
    for (const auto& r : rows) {
        DiskFacts f{"/dev/vdb", r.in_use, r.parts, r.loader, r.slots_match};
        auto d = decide_disk(f, layout, r.wipe);
        std::string got = d ? action_name(*d) : d.error().message;
        EXPECT_EQ(got.rfind(r.expect, 0), 0u) << r.what << ": got '" << got << "'";
    }
}

TEST(BootstrapDisk, DescribeNamesEveryPartition) {
    auto text = describe_layout(*plan_layout(sizes(kGiB), "/dev/vdb"));
    EXPECT_NE(text.find("1 esp: 64 MiB at 1 MiB, vfat LABEL=ESP"), std::string::npos) << text;
    EXPECT_NE(text.find("3 persist:"), std::string::npos) << text;
}

}  // namespace
}  // namespace imageinit::core
