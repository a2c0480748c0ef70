// The boot-state record (contract §4): per-slot health, the primary slot, and a bounded journal
// of recent boots, in one small checksummed text file on the state partition. Pure encode and
// decode; the atomic write lives in os/atomic_file.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace imageinit::core {

constexpr int kRecordVersion = 1;
constexpr size_t kJournalMax = 16;                           // boots kept; older ones drop off
constexpr size_t kRecordMaxBytes = 16384;                    // larger files are refused as corrupt
constexpr std::string_view kRecordPath = "imageinit/state";  // on the state partition

enum class SlotHealth { kGood, kTrying, kBad };

struct SlotState {
    SlotHealth health = SlotHealth::kGood;
    int tries_left = 0;  // kTrying only
    std::string reason;  // kBad only: why
    bool operator==(const SlotState&) const = default;
};

struct JournalEntry {
    uint64_t boot = 0;  // boot counter value of that boot
    std::string slot;
    std::string outcome;  // "attempt" (handed to the image or cut short), "failed", "exhausted"
    std::string step;     // failing step, if any
    std::string reason;   // one line
    uint32_t duration_ms = 0;
    bool operator==(const JournalEntry&) const = default;
};

struct BootRecord {
    std::string primary = "a";
    std::map<std::string, SlotState> slots;  // slots never written are absent
    uint64_t boot_count = 0;                 // incremented by each boot that writes
    std::vector<JournalEntry> journal;       // oldest first, at most kJournalMax
    bool operator==(const BootRecord&) const = default;
};

// What a device without a record (first boot) starts from: primary "a", "a" good.
BootRecord default_record();

std::string encode_record(const BootRecord& record);

// Refuses (with a one-line reason) anything that is not exactly a record we wrote: bad checksum,
// truncated, oversized, unknown or future version, bad slot names, bad numbers.
Result<BootRecord> decode_record(std::string_view bytes);

// Appends and trims to kJournalMax.
void append_journal(BootRecord& record, JournalEntry entry);

// Longest reason (bytes) that encode_record keeps; longer ones are cut. Keeps the whole record
// under kRecordMaxBytes so a long error message can never make the next boot see it as corrupt.
constexpr size_t kReasonMax = 256;

// The record encode_record actually stores (decode(encode(r)) == normalize_record(r)):
// tries_left kept only for kTrying (negative becomes 0), reason only for kBad and cut to
// kReasonMax, slots with invalid names dropped, an invalid primary becomes "a", the journal cut
// to its newest kJournalMax entries (and fewer if the file would exceed kRecordMaxBytes).
BootRecord normalize_record(BootRecord record);

// A reason made fit for one journal/log line: control characters become spaces, cut to kReasonMax.
std::string one_line(std::string_view text);

// CRC-32C (Castagnoli) of the bytes; the record's checksum.
uint32_t crc32c(std::string_view bytes);

const char* health_name(SlotHealth health);  // "good", "trying", "bad"
std::string describe_slot(
    const SlotState& state);  // "trying (2 left)", "bad: boot attempts exhausted"

}  // namespace imageinit::core
