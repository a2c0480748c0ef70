// The attack catalogue of issue 8 at the unit level, beyond what each parser's own tests cover:
// hostile command lines (the emergency shell only on request), every hostile character in spec
// paths followed through to the plan, separators hidden in quoted option values, and specs of
// 100,000 persistent entries.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/boot_record.h"
#include "core/cmdline.h"
#include "core/mount_plan.h"
#include "core/mount_spec.h"

namespace imageinit::core {
namespace {

// Timing bounds only mean something without the sanitizers (tests/run-sanitizers builds at -O0).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// --- kernel command line

// A 4 KiB line of duplicates, unknown keys and quotes: the last valid value of each key wins,
// every problem is one warning line, and nothing turns the emergency shell on.
TEST(HostileCmdline, FourKilobytesOfDuplicatesUnknownKeysAndQuotes) {
    std::string line = "BOOT_IMAGE=/vmlinuz quiet ";
    for (int i = 0; line.size() < 3900; ++i) {
        line += "imageinit.slot=" + std::string(i % 2 ? "a" : "b") + " imageinit.bogus" +
                std::to_string(i) + "=\"x y\" imageinit.timeout=\"1" + std::to_string(i % 9) +
                "\" \"imageinit.state=LABEL=S " + std::to_string(i) + "\" ";
    }
    line += "imageinit.slot=recovery";
    line.resize(4096, ' ');
    ASSERT_EQ(line.size(), 4096u);
    BootConfig c = parse_cmdline(line);
    EXPECT_EQ(c.forced_slot, "recovery");
    EXPECT_GE(c.timeout_sec, 10);
    EXPECT_LE(c.timeout_sec, 18);
    EXPECT_TRUE(c.state_spec.starts_with("LABEL=S ")) << c.state_spec;
    EXPECT_FALSE(c.shell);
    EXPECT_GT(c.warnings.size(), 50u);
    for (const std::string& w : c.warnings) {
        EXPECT_EQ(w.find('\n'), std::string::npos);
        EXPECT_LT(w.size(), 200u) << w;
    }
}

// CVE-2016-4484: a shell must never be reachable by failing or by crafted words. Only the word
// imageinit.shell itself (before "--") asks for one.
TEST(HostileCmdline, OnlyTheShellKeyItselfEnablesTheShell) {
    const std::string no_shell[] = {
        "",
        "imageinit.state=\"LABEL=x imageinit.shell\"",  // inside a quoted value
        "quiet -- imageinit.shell",                     // an argument of the image's init
        "imageinit.shellx imageinit.shel xyz.imageinit.shell",
        "imageinit.break=shell init=/bin/sh",
        std::string(4096, '"'),
        "imageinit.emergency=shell rd.shell rescue emergency",
    };
    for (const std::string& line : no_shell) EXPECT_FALSE(parse_cmdline(line).shell) << line;
    for (const char* line :
         {"imageinit.shell", "quiet \"imageinit.shell\" --", "imageinit.shell=1"})
        EXPECT_TRUE(parse_cmdline(line).shell) << line;
}

// An unterminated quote swallows the rest of the line into one word, and so cannot inject a key.
TEST(HostileCmdline, UnterminatedQuoteCannotInjectKeys) {
    BootConfig c = parse_cmdline("imageinit.state=\"LABEL=A imageinit.slot=b imageinit.shell");
    EXPECT_FALSE(c.forced_slot.has_value());
    EXPECT_FALSE(c.shell);
    EXPECT_EQ(c.state_spec, "LABEL=A imageinit.slot=b imageinit.shell");
}

// --- mount spec paths, through to the plan

// Every hostile character of the catalogue, in a mount target and in a persistent path: either
// refused with "FILE:LINE: ..." or kept byte for byte as a path, never spliced into mount data.
TEST(HostileSpec, HostileCharactersInTargetsAndPersistentPaths) {
    const std::string over_name(256, 'n');
    std::string over_path;
    while (over_path.size() < 4096) over_path += "/" + std::string(200, 'p');
    struct Case {
        std::string path;      // as written in the fstab (libmount's octal escapes)
        std::string expected;  // normalised path, or "" when refused
    };
    const std::vector<Case> cases = {
        {"/a/../b", ""},
        {"/..", ""},
        {"//a//b", "/a/b"},
        {"/a/./b", "/a/b"},
        {"/a/b/", "/a/b"},
        {"relative/x", ""},
        {"/a,b", "/a,b"},
        {"/a:b", "/a:b"},
        {"/a\\134b", "/a\\b"},                             // backslash
        {"/a\\134,lowerdir=\\134x", "/a\\,lowerdir=\\x"},  // an attempt at option injection
        {"/a\\040b", "/a b"},                              // space
        {"/a\\011b", ""},                                  // tab
        {"/a\\012b", ""},                                  // newline
        {"/a\xff\xfe", ""},                                // not UTF-8
        {"/" + over_name, ""},
        {over_path, ""},
    };
    for (const Case& c : cases) {
        for (bool persistent : {false, true}) {
            std::string line = persistent ? "persist:" + c.path + " /p none bind\n"
                                          : "tmpfs " + c.path + " tmpfs mode=0755\n";
            std::string text = "tmpfs /tmp tmpfs\n" + line;
            auto spec = parse_mount_spec(text, "fstab");
            if (c.expected.empty()) {
                ASSERT_FALSE(spec.has_value()) << line;
                EXPECT_TRUE(spec.error().message.starts_with("fstab:2: ")) << spec.error().message;
                EXPECT_EQ(spec.error().message.find('\n'), std::string::npos);
                EXPECT_LT(spec.error().message.size(), 400u);
                continue;
            }
            ASSERT_TRUE(spec.has_value()) << line << ": " << spec.error().message;
            const SpecEntry& e = spec->entries[1];
            EXPECT_EQ(persistent ? e.persist_path : e.target, c.expected) << line;
            auto plan = plan_mounts(*spec, PlanContext{"a", true});
            ASSERT_TRUE(plan.has_value()) << plan.error().message;
            for (const PlannedMount& m : plan->mounts) {
                EXPECT_EQ(m.data.find('/'), std::string::npos) << m.data;
                EXPECT_EQ(m.data.find("lowerdir"), std::string::npos) << m.data;
                if (persistent && m.target == "/p") {
                    EXPECT_EQ(m.persist_dir, "shared" + c.expected);
                    EXPECT_EQ(m.flags & (MS_NOSUID | MS_NODEV),
                              static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
                }
            }
        }
    }
}

// libmount reads a quoted value as one option; the kernel splits mount data at every ','.
// A quoted ',' would smuggle options past the parser (e.g. a path, or an overlay directory).
TEST(HostileSpec, QuotedSeparatorInOptionValueIsRefused) {
    for (const char* line : {"tmpfs /t tmpfs size=\"1,huge=always\"\n",
                             "LABEL=D /d ext4 errors=\"continue,commit=1\"\n",
                             "LABEL=D /d ext4 x=\"a,lowerdir=x\",noatime\n"}) {
        auto spec = parse_mount_spec(line, "fstab");
        ASSERT_TRUE(spec.has_value()) << line << spec.error().message;
        auto plan = plan_mounts(*spec, {});
        ASSERT_FALSE(plan.has_value()) << line;
        EXPECT_NE(plan.error().message.find("fstab:1: option '"), std::string::npos)
            << plan.error().message;
        EXPECT_NE(plan.error().message.find("has a ',' in its value"), std::string::npos)
            << plan.error().message;
    }
    // SELinux takes its context options out of the data itself and understands the quotes.
    auto spec = parse_mount_spec("LABEL=D /d ext4 context=\"u:r:t:s0,c1\",noatime\n", "fstab");
    ASSERT_TRUE(spec.has_value());
    auto plan = plan_mounts(*spec, {});
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    EXPECT_EQ(plan->mounts[0].data, "context=\"u:r:t:s0,c1\"");
    // Quotes without a ',' are the filesystem's business.
    spec = parse_mount_spec("tmpfs /t tmpfs size=\"10M\"\n", "fstab");
    ASSERT_TRUE(spec.has_value());
    EXPECT_TRUE(plan_mounts(*spec, {}).has_value());
}

// An unknown filesystem option goes to the kernel, which refuses it (the slot fails there);
// an unknown imageinit option is refused here. Neither can carry a path.
TEST(HostileSpec, UnknownOptionsNeverCarryPaths) {
    auto spec = parse_mount_spec("LABEL=D /d ext4 frobnicate=3,noatime\n", "fstab");
    ASSERT_TRUE(spec.has_value());
    auto plan = plan_mounts(*spec, {});
    ASSERT_TRUE(plan.has_value());
    EXPECT_EQ(plan->mounts[0].data, "frobnicate=3");
    for (const char* line :
         {"LABEL=D /d ext4 frobnicate=/etc/shadow\n", "tmpfs /t tmpfs x-imageinit.frobnicate\n",
          "persist:/a /a none bind,x-imageinit.upper=../x\n"}) {
        EXPECT_FALSE(parse_mount_spec(line, "fstab").has_value()) << line;
    }
}

// 100,000 persistent entries: the overlap check sorts instead of comparing every pair, and an
// overlap at the very end is still found.
TEST(HostileSpec, HundredThousandPersistentEntries) {
    std::string text;
    text.reserve(100000 * 48);
    for (int i = 0; i < 100000; ++i) {
        std::string p = "/srv/" + std::to_string(i % 317) + "/" + std::to_string(i);
        text += "persist:" + p + " " + p + " none bind\n";
    }
    auto start = std::chrono::steady_clock::now();
    auto spec = parse_mount_spec(text, "fstab");
    ASSERT_TRUE(spec.has_value()) << spec.error().message;
    auto plan = plan_mounts(*spec, PlanContext{"b", true});
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    EXPECT_EQ(plan->mounts.size(), 100000u);
    auto elapsed = std::chrono::steady_clock::now() - start;
    // Catches quadratic behaviour (hours at this size), not a slow or sanitized build.
    if (!kSanitized) {
        EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), 60);
    }

    text += "persist:/srv/5 /x none bind\n";
    auto overlapping = parse_mount_spec(text, "fstab");
    ASSERT_FALSE(overlapping.has_value());
    EXPECT_TRUE(overlapping.error().message.starts_with(
        "fstab:100001: persistent path '/srv/5' overlaps '/srv/5/"))
        << overlapping.error().message;
}

// --- boot-state record

// A record from a future imageinit with a valid checksum is refused by name, never half-read;
// one byte over the limit is refused before it is parsed.
TEST(HostileRecord, FutureVersionAndOversizeAreRefusedBeforeParsing) {
    BootRecord r = default_record();
    std::string good = encode_record(r);
    std::string future = good;
    future.replace(future.find(" 1\n"), 3, " 2\n");
    auto decoded = decode_record(future);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().message, "record version 2 is newer than this imageinit (1)");

    std::string big = good.substr(0, good.rfind("crc32c"));
    while (big.size() <= kRecordMaxBytes) big += "journal 1 a attempt - 0\n";
    decoded = decode_record(big);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_NE(decoded.error().message.find("more than 16384"), std::string::npos);
}

// A reason cannot forge lines: control bytes are escaped, so a reason holding "\nprimary b"
// round-trips as text and the primary stays put.
TEST(HostileRecord, ReasonCannotForgeRecordLines) {
    BootRecord r = default_record();
    r.slots["b"] = {SlotHealth::kBad, 0, "x\nprimary b\ncrc32c 00000000"};
    append_journal(r, {1, "a b", "attempt\n", "step\rx", "why\n\nslot b good", 7});
    std::string bytes = encode_record(r);
    auto decoded = decode_record(bytes);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(decoded->primary, "a");
    EXPECT_EQ(decoded->slots.at("b").health, SlotHealth::kBad);
    EXPECT_EQ(*decoded, normalize_record(r));
}

}  // namespace
}  // namespace imageinit::core
