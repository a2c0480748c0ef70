// Fuzz body: the boot-state record decoder. The record sits on a writable partition, so every
// byte string must decode to a record or to a one-line refusal. First input byte: bit 0 set means
// "append a correct checksum line", so the fuzzer also gets past the CRC to the field parsers.
// Properties: what decodes is canonical (encode(decode(x)) == x) and stable
// (decode(encode(decode(x))) == decode(x)).
#include <cstdio>
#include <string>
#include <string_view>

#include "core/boot_record.h"
#include "core/cmdline.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {

void fuzz_boot_record(const uint8_t* data, size_t size) {
    if (size == 0) return;
    std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] & 1) {
        char crc[32];
        std::snprintf(crc, sizeof crc, "crc32c %08x\n", core::crc32c(bytes));
        bytes += crc;
    }

    auto record = core::decode_record(bytes);
    if (!record) {
        const std::string& msg = record.error().message;
        FUZZ_CHECK(!msg.empty() && msg.find('\n') == std::string::npos, msg);
        return;
    }
    const core::BootRecord& r = *record;
    FUZZ_CHECK(bytes.size() <= core::kRecordMaxBytes, std::to_string(bytes.size()));
    FUZZ_CHECK(core::valid_slot_name(r.primary), r.primary);
    for (const auto& [name, st] : r.slots) {
        FUZZ_CHECK(core::valid_slot_name(name), name);
        FUZZ_CHECK(st.tries_left >= 0, std::to_string(st.tries_left));
        FUZZ_CHECK(st.health == core::SlotHealth::kTrying || st.tries_left == 0, name);
        FUZZ_CHECK(st.reason.size() <= core::kReasonMax, name);
    }
    FUZZ_CHECK(r.journal.size() <= core::kJournalMax, std::to_string(r.journal.size()));

    std::string encoded = core::encode_record(r);
    FUZZ_CHECK(encoded == bytes, "decoded record does not re-encode to its input");
    FUZZ_CHECK(core::normalize_record(r) == r, "decoded record is not normalised");
    auto again = core::decode_record(encoded);
    FUZZ_CHECK(again.has_value(), again ? "" : again.error().message);
    FUZZ_CHECK(*again == r, "decode(encode(decode(x))) differs from decode(x)");
    FUZZ_CHECK(core::encode_record(*again) == encoded, "encoding is not stable");
}

}  // namespace imageinit::fuzz
