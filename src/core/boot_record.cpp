// The boot-state record as a small line-oriented text file, readable with `cat`, checksummed,
// and decoded strictly: anything that is not byte for byte what encode_record writes is refused.
//
// Format (one item per line, fields separated by one space, lines in exactly this order):
//   imageinit-state 1                       format version
//   boot-count 42                           decimal, no sign, no leading zeros
//   primary a                               a slot name ([a-z0-9_-]{1,32})
//   slot a good                             zero or more, sorted by name, each name once:
//   slot b trying 2                           good | trying TRIES_LEFT | bad[ REASON]
//   slot recovery bad boot attempts exhausted
//   journal 41 b failed mount-image 1234 mount '/x': invalid argument
//   journal 42 a attempt - 0                  BOOT SLOT OUTCOME STEP DURATION_MS[ REASON]
//   crc32c 89abcdef                         CRC-32C of every byte before this line, lower-case hex
// REASON runs to the end of the line. Escapes: `\\` for a backslash, `\xHH` for a control byte
// (so a reason never spans lines); in the single-word fields SLOT OUTCOME STEP also for a space,
// and an empty word is written `-` (a word that is literally "-" is `\x2d`).
#include "core/boot_record.h"

#include <charconv>
#include <climits>
#include <cstdio>
#include <optional>

#include "core/cmdline.h"

namespace imageinit::core {
namespace {

constexpr std::string_view kMagic = "imageinit-state ";
constexpr std::string_view kCrcPrefix = "crc32c ";

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

void append_hex_escape(std::string& out, unsigned char c) {
    static const char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
}

// Free text that runs to the end of a line.
std::string escape_text(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (is_control(c)) {
            append_hex_escape(out, c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// A single space-free field; never empty on disk.
std::string escape_word(std::string_view word) {
    if (word.empty()) return "-";
    if (word == "-") return "\\x2d";
    std::string out;
    for (unsigned char c : word) {
        if (c == '\\') {
            out += "\\\\";
        } else if (is_control(c) || c == ' ') {
            append_hex_escape(out, c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Undoes both escapes; canonical form is checked by re-encoding the whole line afterwards.
std::optional<std::string> unescape(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '\\') {
            out += in[i];
        } else if (i + 1 < in.size() && in[i + 1] == '\\') {
            out += '\\';
            ++i;
        } else if (i + 3 < in.size() && in[i + 1] == 'x' && hex_value(in[i + 2]) >= 0 &&
                   hex_value(in[i + 3]) >= 0) {
            out += static_cast<char>(hex_value(in[i + 2]) * 16 + hex_value(in[i + 3]));
            i += 3;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

std::optional<std::string> unescape_word(std::string_view word) {
    if (word == "-") return std::string();
    return unescape(word);
}

// Decimal without sign or leading zeros, at most `max`.
std::optional<uint64_t> parse_number(std::string_view s, uint64_t max) {
    if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
    return v;
}

// Cuts to at most `max` bytes without splitting a UTF-8 sequence.
std::string cut(std::string_view s, size_t max) {
    if (s.size() <= max) return std::string(s);
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return std::string(s.substr(0, n));
}

std::string slot_line(const std::string& name, const SlotState& st) {
    std::string line = "slot " + name + " " + health_name(st.health);
    if (st.health == SlotHealth::kTrying) line += " " + std::to_string(st.tries_left);
    if (st.health == SlotHealth::kBad && !st.reason.empty()) line += " " + escape_text(st.reason);
    return line;
}

std::string journal_line(const JournalEntry& e) {
    std::string line = "journal " + std::to_string(e.boot) + " " + escape_word(e.slot) + " " +
                       escape_word(e.outcome) + " " + escape_word(e.step) + " " +
                       std::to_string(e.duration_ms);
    if (!e.reason.empty()) line += " " + escape_text(e.reason);
    return line;
}

// Encodes an already normalized record.
std::string encode_normalized(const BootRecord& r) {
    std::string body = std::string(kMagic) + std::to_string(kRecordVersion) + "\n";
    body += "boot-count " + std::to_string(r.boot_count) + "\n";
    body += "primary " + r.primary + "\n";
    for (const auto& [name, st] : r.slots) body += slot_line(name, st) + "\n";
    for (const auto& e : r.journal) body += journal_line(e) + "\n";
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x", crc32c(body));
    return body + std::string(kCrcPrefix) + crc + "\n";
}

// Splits off the next `n` space-separated words; the rest (after one more space) is returned in
// `rest`. False when there are fewer words.
bool split_words(std::string_view line, size_t n, std::vector<std::string_view>& words,
                 std::string_view& rest) {
    words.clear();
    while (words.size() < n) {
        size_t sp = line.find(' ');
        words.push_back(line.substr(0, sp));
        if (sp == std::string_view::npos) {
            line = {};
            rest = {};
            return words.size() == n;
        }
        line.remove_prefix(sp + 1);
    }
    rest = line;
    return true;
}

Unexpected line_error(size_t lineno, const std::string& what) {
    return fail("line " + std::to_string(lineno) + ": " + what);
}

std::string quoted(std::string_view s) { return "'" + escape_text(cut(s, 64)) + "'"; }

Result<void> parse_slot(std::string_view rest, size_t lineno, BootRecord& r) {
    std::vector<std::string_view> w;
    std::string_view tail;
    if (!split_words(rest, 2, w, tail)) return line_error(lineno, "slot line without a health");
    std::string name(w[0]);
    if (!valid_slot_name(name)) return line_error(lineno, "bad slot name " + quoted(name));
    if (r.slots.count(name)) return line_error(lineno, "slot " + quoted(name) + " listed twice");
    if (!r.slots.empty() && name < r.slots.rbegin()->first)
        return line_error(lineno, "slot lines out of order");
    SlotState st;
    if (w[1] == "good") {
        st.health = SlotHealth::kGood;
    } else if (w[1] == "trying") {
        auto tries = parse_number(tail, INT_MAX);
        if (!tries) return line_error(lineno, "bad tries count " + quoted(tail));
        st.health = SlotHealth::kTrying;
        st.tries_left = static_cast<int>(*tries);
    } else if (w[1] == "bad") {
        auto reason = unescape(tail);
        if (!reason) return line_error(lineno, "bad escape in reason");
        st.health = SlotHealth::kBad;
        st.reason = std::move(*reason);
    } else {
        return line_error(lineno, "unknown slot health " + quoted(w[1]));
    }
    if (slot_line(name, st) != std::string("slot ").append(rest))
        return line_error(lineno, "slot line not in canonical form");
    r.slots.emplace(std::move(name), std::move(st));
    return ok();
}

Result<void> parse_journal(std::string_view rest, size_t lineno, BootRecord& r) {
    std::vector<std::string_view> w;
    std::string_view tail;
    if (!split_words(rest, 5, w, tail)) return line_error(lineno, "short journal line");
    JournalEntry e;
    auto boot = parse_number(w[0], UINT64_MAX);
    auto duration = parse_number(w[4], UINT32_MAX);
    auto slot = unescape_word(w[1]);
    auto outcome = unescape_word(w[2]);
    auto step = unescape_word(w[3]);
    auto reason = unescape(tail);
    if (!boot || !duration) return line_error(lineno, "bad number in journal line");
    if (!slot || !outcome || !step || !reason) return line_error(lineno, "bad escape");
    e.boot = *boot;
    e.duration_ms = static_cast<uint32_t>(*duration);
    e.slot = std::move(*slot);
    e.outcome = std::move(*outcome);
    e.step = std::move(*step);
    e.reason = std::move(*reason);
    if (journal_line(e) != std::string("journal ").append(rest))
        return line_error(lineno, "journal line not in canonical form");
    if (r.journal.size() == kJournalMax)
        return line_error(lineno, "more than " + std::to_string(kJournalMax) + " journal entries");
    r.journal.push_back(std::move(e));
    return ok();
}

}  // namespace

BootRecord default_record() {
    BootRecord r;
    r.primary = "a";
    r.slots["a"] = SlotState{SlotHealth::kGood, 0, ""};
    return r;
}

const char* health_name(SlotHealth health) {
    switch (health) {
        case SlotHealth::kGood:
            return "good";
        case SlotHealth::kTrying:
            return "trying";
        case SlotHealth::kBad:
            return "bad";
    }
    return "bad";
}

std::string describe_slot(const SlotState& state) {
    switch (state.health) {
        case SlotHealth::kGood:
            return "good";
        case SlotHealth::kTrying:
            return "trying (" + std::to_string(state.tries_left) + " left)";
        case SlotHealth::kBad:
            return state.reason.empty() ? "bad" : "bad: " + state.reason;
    }
    return "bad";
}

std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (is_control(static_cast<unsigned char>(c))) c = ' ';
    return cut(out, kReasonMax);
}

void append_journal(BootRecord& record, JournalEntry entry) {
    record.journal.push_back(std::move(entry));
    if (record.journal.size() > kJournalMax)
        record.journal.erase(record.journal.begin(),
                             record.journal.end() - static_cast<ptrdiff_t>(kJournalMax));
}

BootRecord normalize_record(BootRecord r) {
    if (!valid_slot_name(r.primary)) r.primary = "a";
    for (auto it = r.slots.begin(); it != r.slots.end();) {
        if (!valid_slot_name(it->first)) {
            it = r.slots.erase(it);
            continue;
        }
        SlotState& st = it->second;
        if (st.health != SlotHealth::kTrying) st.tries_left = 0;
        if (st.tries_left < 0) st.tries_left = 0;
        st.reason = st.health == SlotHealth::kBad ? cut(st.reason, kReasonMax) : "";
        ++it;
    }
    if (r.journal.size() > kJournalMax)
        r.journal.erase(r.journal.begin(), r.journal.end() - static_cast<ptrdiff_t>(kJournalMax));
    for (auto& e : r.journal) {
        e.slot = cut(e.slot, kReasonMax);
        e.outcome = cut(e.outcome, kReasonMax);
        e.step = cut(e.step, kReasonMax);
        e.reason = cut(e.reason, kReasonMax);
    }
    // Oldest journal entries give way first: the slot states are what the next boot needs.
    while (!r.journal.empty() && encode_normalized(r).size() > kRecordMaxBytes)
        r.journal.erase(r.journal.begin());
    return r;
}

std::string encode_record(const BootRecord& record) {
    return encode_normalized(normalize_record(record));
}

Result<BootRecord> decode_record(std::string_view bytes) {
    if (bytes.size() > kRecordMaxBytes)
        return fail("record is " + std::to_string(bytes.size()) + " bytes, more than " +
                    std::to_string(kRecordMaxBytes));
    if (bytes.empty()) return fail("record is empty");
    // The version comes first so a newer format is named as such, not as a bad checksum.
    std::string_view first = bytes.substr(0, bytes.find('\n'));
    if (first.substr(0, kMagic.size()) != kMagic) return fail("not an imageinit state record");
    auto version = parse_number(first.substr(kMagic.size()), INT_MAX);
    if (!version) return fail("bad record version " + quoted(first.substr(kMagic.size())));
    if (*version > static_cast<uint64_t>(kRecordVersion))
        return fail("record version " + std::to_string(*version) +
                    " is newer than this imageinit (" + std::to_string(kRecordVersion) + ")");
    if (*version != static_cast<uint64_t>(kRecordVersion))
        return fail("unknown record version " + std::to_string(*version));
    if (bytes.back() != '\n') return fail("truncated record (no final newline)");

    size_t last = bytes.rfind('\n', bytes.size() - 2);
    if (last == std::string_view::npos) return fail("truncated record (no checksum line)");
    std::string_view body = bytes.substr(0, last + 1);
    std::string_view crc_line = bytes.substr(last + 1, bytes.size() - last - 2);
    if (crc_line.substr(0, kCrcPrefix.size()) != kCrcPrefix)
        return fail("truncated record (no checksum line)");
    std::string_view hex = crc_line.substr(kCrcPrefix.size());
    uint32_t stored = 0;
    if (hex.size() != 8) return fail("bad checksum line");
    for (char c : hex) {
        if (hex_value(c) < 0) return fail("bad checksum line");
        stored = stored << 4 | static_cast<uint32_t>(hex_value(c));
    }
    uint32_t computed = crc32c(body);
    if (stored != computed) {
        char msg[80];
        std::snprintf(msg, sizeof msg, "bad checksum (stored %08x, computed %08x)", stored,
                      computed);
        return fail(msg);
    }

    BootRecord r;
    size_t lineno = 1;
    size_t pos = first.size() + 1;
    bool have_count = false, have_primary = false;
    while (pos < body.size()) {
        size_t nl = body.find('\n', pos);
        std::string_view line = body.substr(pos, nl - pos);
        pos = nl + 1;
        ++lineno;
        size_t sp = line.find(' ');
        std::string_view key = line.substr(0, sp);
        std::string_view rest = sp == std::string_view::npos ? "" : line.substr(sp + 1);
        if (!have_count) {
            auto n = parse_number(rest, UINT64_MAX);
            if (key != "boot-count" || !n) return line_error(lineno, "expected 'boot-count N'");
            r.boot_count = *n;
            have_count = true;
        } else if (!have_primary) {
            if (key != "primary") return line_error(lineno, "expected 'primary SLOT'");
            if (!valid_slot_name(rest))
                return line_error(lineno, "bad primary slot name " + quoted(rest));
            r.primary = std::string(rest);
            have_primary = true;
        } else if (key == "slot" && r.journal.empty()) {
            TRY(parse_slot(rest, lineno, r));
        } else if (key == "journal") {
            TRY(parse_journal(rest, lineno, r));
        } else {
            return line_error(lineno, "unexpected line starting " + quoted(key));
        }
    }
    if (!have_primary) return fail("truncated record (no primary)");
    // Belt and braces: only what encode_record would write is accepted (e.g. no over-long reason).
    if (encode_record(r) != bytes) return fail("record not in canonical form");
    return r;
}

}  // namespace imageinit::core
