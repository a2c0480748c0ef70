// The boot-state record codec: round trips, the exact on-disk text, and refusal of every kind of
// damage (truncation at every length, every single bit flipped, crafted bad fields).
#include "core/boot_record.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <random>

namespace imageinit::core {
namespace {

// Appends a correct checksum line, so the tests reach the field checks behind the checksum.
std::string seal(const std::string& body) {
    char crc[32];
    std::snprintf(crc, sizeof crc, "crc32c %08x\n", crc32c(body));
    return body + crc;
}

BootRecord sample_record() {
    BootRecord r;
    r.boot_count = 42;
    r.primary = "a";
    r.slots["a"] = {SlotHealth::kGood, 0, ""};
    r.slots["b"] = {SlotHealth::kTrying, 2, ""};
    r.slots["recovery"] = {SlotHealth::kBad, 0, "boot attempts exhausted"};
    r.journal.push_back({41, "b", "failed", "mount-image", "mount '/x': invalid argument", 1234});
    r.journal.push_back({42, "a", "attempt", "", "", 0});
    return r;
}

TEST(BootRecord, EncodesToReadableLines) {
    std::string body =
        "imageinit-state 1\n"
        "boot-count 42\n"
        "primary a\n"
        "slot a good\n"
        "slot b trying 2\n"
        "slot recovery bad boot attempts exhausted\n"
        "journal 41 b failed mount-image 1234 mount '/x': invalid argument\n"
        "journal 42 a attempt - 0\n";
    EXPECT_EQ(encode_record(sample_record()), seal(body));
}

TEST(BootRecord, Crc32cMatchesTheStandardCheckValue) {
    EXPECT_EQ(crc32c("123456789"), 0xe3069283u);
    EXPECT_EQ(crc32c(""), 0u);
}

TEST(BootRecord, RoundTripsTable) {
    std::vector<BootRecord> table;
    table.push_back(default_record());
    table.push_back(sample_record());
    BootRecord empty;  // no slots at all
    table.push_back(empty);
    BootRecord odd = sample_record();
    odd.primary = "x_y-9";
    odd.boot_count = UINT64_MAX;
    odd.slots["x_y-9"] = {SlotHealth::kTrying, INT_MAX, ""};
    odd.slots["b"] = {SlotHealth::kBad, 0, ""};
    odd.slots["recovery"] = {SlotHealth::kBad, 0, "line1\nline2\r\t\\x41 \\ trailing "};
    odd.journal.push_back({UINT64_MAX, "", "", "-", "", UINT32_MAX});
    odd.journal.push_back({0, "we ird\n", "out come", "st\\ep", " leading space", 7});
    odd.journal.push_back({1, "b", "failed", "check-init", "caf\xc3\xa9 \x7f\x01 \xff", 1});
    table.push_back(odd);
    BootRecord full = sample_record();
    for (int i = 0; i < 40; ++i) append_journal(full, {uint64_t(i), "a", "attempt", "", "", 0});
    table.push_back(full);
    for (const auto& r : table) {
        std::string bytes = encode_record(r);
        auto decoded = decode_record(bytes);
        ASSERT_TRUE(decoded) << decoded.error().message << "\n" << bytes;
        EXPECT_EQ(*decoded, r) << bytes;
        EXPECT_EQ(bytes.find('\r'), std::string::npos);
    }
}

// Random records, including values the encoder has to normalize: decode(encode(r)) is
// normalize_record(r), and normalizing is idempotent.
TEST(BootRecord, RandomRecordsRoundTripAfterNormalization) {
    std::mt19937 rng(1234);
    auto rnd = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    auto text = [&](int max) {
        std::string s;
        for (int i = rnd(max); i > 0; --i) s += static_cast<char>(rnd(256));
        return s;
    };
    const char* names[] = {"a", "b", "recovery", "c-1", "bad name", "", "A"};
    for (int iter = 0; iter < 500; ++iter) {
        BootRecord r;
        r.primary = names[rnd(7)];
        r.boot_count = rng();
        for (int i = rnd(5); i > 0; --i)
            r.slots[names[rnd(7)]] = {static_cast<SlotHealth>(rnd(3)), rnd(9) - 2, text(300)};
        for (int i = rnd(25); i > 0; --i)
            r.journal.push_back(
                {rng(), text(8), text(8), text(8), text(400), static_cast<uint32_t>(rng())});
        BootRecord norm = normalize_record(r);
        EXPECT_EQ(normalize_record(norm), norm);
        std::string bytes = encode_record(r);
        EXPECT_LE(bytes.size(), kRecordMaxBytes);
        auto decoded = decode_record(bytes);
        ASSERT_TRUE(decoded) << decoded.error().message;
        EXPECT_EQ(*decoded, norm);
    }
}

TEST(BootRecord, LongReasonsNeverMakeTheRecordOversized) {
    BootRecord r = sample_record();
    std::string long_reason(5000, '\n');  // escapes to four bytes each
    r.slots["b"] = {SlotHealth::kBad, 0, long_reason};
    for (int i = 0; i < 30; ++i)
        append_journal(r, {uint64_t(i), "a", "failed", "x", long_reason, 1});
    std::string bytes = encode_record(r);
    EXPECT_LE(bytes.size(), kRecordMaxBytes);
    auto decoded = decode_record(bytes);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->slots["b"].reason, std::string(kReasonMax, '\n'));
    EXPECT_EQ(decoded->journal.back().boot, 29u);  // the newest entries are the ones kept
}

TEST(BootRecord, TruncationAtEveryLengthIsRefused) {
    std::string bytes = encode_record(sample_record());
    for (size_t len = 0; len < bytes.size(); ++len)
        EXPECT_FALSE(decode_record(bytes.substr(0, len))) << "length " << len;
}

TEST(BootRecord, EveryBitFlipIsRefusedOrHarmless) {
    BootRecord original = sample_record();
    std::string bytes = encode_record(original);
    int refused = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string damaged = bytes;
            damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
            auto decoded = decode_record(damaged);
            if (decoded) {
                EXPECT_EQ(*decoded, original) << "byte " << i << " bit " << bit;
            } else {
                ++refused;
            }
        }
    }
    EXPECT_EQ(refused, static_cast<int>(bytes.size() * 8));  // CRC-32C catches every single flip
}

struct BadCase {
    const char* name;
    std::string bytes;
    std::string error;  // substring of the expected message
};

TEST(BootRecord, DamagedRecordsAreRefusedWithAReason) {
    const std::string head = "imageinit-state 1\nboot-count 3\nprimary a\n";
    std::string good = encode_record(sample_record());
    std::string bad_crc = good;
    bad_crc[bad_crc.size() - 2] = bad_crc[bad_crc.size() - 2] == '0' ? '1' : '0';
    std::string upper = good;
    for (size_t i = upper.size() - 9; i < upper.size() - 1; ++i) upper[i] = toupper(upper[i]);
    const std::vector<BadCase> cases = {
        {"empty", "", "empty"},
        {"not ours", "hello\n", "not an imageinit state record"},
        {"future", seal("imageinit-state 2\nwhatever\n"),
         "record version 2 is newer than this imageinit (1)"},
        {"version 0", seal("imageinit-state 0\n"), "unknown record version 0"},
        {"version garbage", "imageinit-state x1\n", "bad record version"},
        {"oversized", std::string(kRecordMaxBytes + 1, 'x'), "more than 16384"},
        {"no final newline", good.substr(0, good.size() - 1), "truncated"},
        {"no checksum", head, "truncated"},
        {"bad checksum", bad_crc, "bad checksum"},
        {"upper-case checksum", upper, "bad checksum line"},
        {"missing primary", seal("imageinit-state 1\nboot-count 3\n"), "no primary"},
        {"negative count", seal("imageinit-state 1\nboot-count -1\nprimary a\n"), "boot-count"},
        {"overflowing count",
         seal("imageinit-state 1\nboot-count 18446744073709551616\nprimary a\n"), "boot-count"},
        {"leading zero", seal("imageinit-state 1\nboot-count 03\nprimary a\n"), "boot-count"},
        {"bad primary", seal("imageinit-state 1\nboot-count 3\nprimary A\n"), "bad primary"},
        {"bad slot name", seal(head + "slot ../x good\n"), "bad slot name '../x'"},
        {"long slot name", seal(head + "slot " + std::string(33, 'a') + " good\n"),
         "bad slot name"},
        {"duplicate slot", seal(head + "slot a good\nslot a bad\n"), "listed twice"},
        {"unsorted slots", seal(head + "slot b good\nslot a good\n"), "out of order"},
        {"negative tries", seal(head + "slot b trying -1\n"), "bad tries count"},
        {"overflowing tries", seal(head + "slot b trying 2147483648\n"), "bad tries count"},
        {"good with tries", seal(head + "slot a good 3\n"), "canonical"},
        {"unknown health", seal(head + "slot a great\n"), "unknown slot health 'great'"},
        {"raw control byte", seal(head + "slot a bad x\ry\n"), "canonical"},
        {"bad escape", seal(head + "slot a bad x\\qy\n"), "bad escape"},
        {"needless escape", seal(head + "slot a bad \\x41\n"), "canonical"},
        {"trailing space", seal(head + "slot a bad\x20\n"), "canonical"},
        {"short journal", seal(head + "journal 1 a attempt -\n"), "short journal"},
        {"journal number", seal(head + "journal 1 a attempt - 4294967296\n"), "bad number"},
        {"slot after journal", seal(head + "journal 1 a attempt - 0\nslot a good\n"),
         "unexpected line"},
        {"unknown line", seal(head + "colour blue\n"), "unexpected line starting 'colour'"},
    };
    for (const auto& c : cases) {
        if (c.bytes == good) continue;  // the checksum had no letters to upper-case
        auto r = decode_record(c.bytes);
        ASSERT_FALSE(r) << c.name;
        EXPECT_NE(r.error().message.find(c.error), std::string::npos)
            << c.name << ": " << r.error().message;
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << c.name;
    }
}

TEST(BootRecord, TooManyJournalEntriesAreRefused) {
    std::string body = "imageinit-state 1\nboot-count 3\nprimary a\n";
    for (size_t i = 0; i <= kJournalMax; ++i) body += "journal 1 a attempt - 0\n";
    auto r = decode_record(seal(body));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("more than 16 journal entries"), std::string::npos);
}

TEST(BootRecord, AppendJournalDropsTheOldest) {
    BootRecord r;
    for (uint64_t i = 0; i < kJournalMax + 5; ++i)
        append_journal(r, {i, "a", "attempt", "", "", 0});
    ASSERT_EQ(r.journal.size(), kJournalMax);
    EXPECT_EQ(r.journal.front().boot, 5u);
    EXPECT_EQ(r.journal.back().boot, kJournalMax + 4);
}

TEST(BootRecord, DefaultRecordHasGoodPrimaryA) {
    BootRecord r = default_record();
    EXPECT_EQ(r.primary, "a");
    EXPECT_EQ(r.slots.at("a").health, SlotHealth::kGood);
    EXPECT_EQ(r.boot_count, 0u);
}

TEST(BootRecord, NamesAndDescriptions) {
    EXPECT_STREQ(health_name(SlotHealth::kGood), "good");
    EXPECT_STREQ(health_name(SlotHealth::kTrying), "trying");
    EXPECT_STREQ(health_name(SlotHealth::kBad), "bad");
    EXPECT_EQ(describe_slot({SlotHealth::kGood, 0, ""}), "good");
    EXPECT_EQ(describe_slot({SlotHealth::kTrying, 2, ""}), "trying (2 left)");
    EXPECT_EQ(describe_slot({SlotHealth::kBad, 0, "boot attempts exhausted"}),
              "bad: boot attempts exhausted");
    EXPECT_EQ(describe_slot({SlotHealth::kBad, 0, ""}), "bad");
}

TEST(BootRecord, OneLineReplacesControlCharactersAndCuts) {
    EXPECT_EQ(one_line("a\nb\tc"), "a b c");
    EXPECT_EQ(one_line(std::string(1000, 'x')).size(), kReasonMax);
    // never splits a UTF-8 sequence
    std::string accents;
    for (int i = 0; i < 200; ++i) accents += "\xc3\xa9";
    EXPECT_EQ(one_line(accents).size() % 2, 0u);
}

}  // namespace
}  // namespace imageinit::core
