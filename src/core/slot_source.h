// The per-slot sidecar slots/NAME.img.source (contract §11): which image a slot holds, as the
// source reference and the manifest digest. Written by `install`/`upgrade`, read by `status`
// and `imageinit-compose gc`. Header-only so both binaries share the one format.
//   source=docker://HOST/REPO:TAG
//   digest=sha256:HEX
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imageinit::core {

struct SlotSource {
    std::string source;  // as given to upgrade/install ("" when unknown)
    std::string digest;  // "sha256:HEX", or "" (a plain image file has no manifest)
};

inline bool valid_source_digest(std::string_view d) {
    if (d.size() != 7 + 64 || d.substr(0, 7) != "sha256:") return false;
    for (char c : d.substr(7))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Unknown keys are ignored (later versions may add some); a malformed digest or a control
// character in a value makes the whole file unusable: nullopt.
inline std::optional<SlotSource> parse_slot_source(std::string_view text) {
    SlotSource s;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        size_t eq = line.find('=');
        if (line.empty() || eq == std::string_view::npos) continue;
        std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
        for (char c : value)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
        if (key == "source") s.source = std::string(value);
        if (key == "digest") {
            if (!value.empty() && !valid_source_digest(value)) return std::nullopt;
            s.digest = std::string(value);
        }
    }
    return s;
}

inline std::string format_slot_source(const SlotSource& s) {
    return "source=" + s.source + "\ndigest=" + s.digest + "\n";
}

}  // namespace imageinit::core
