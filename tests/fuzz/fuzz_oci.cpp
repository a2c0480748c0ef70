// Fuzz body: the OCI index and manifest parsers (and the JSON reader under them). Never crash;
// whatever they accept has a sha256 digest that cannot name a path and an exact size.
#include <string>
#include <string_view>

#include "compose/json_reader.h"
#include "compose/oci_layout.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

void check_descriptor(const compose::Descriptor& d) {
    FUZZ_CHECK(d.digest == "sha256:" + d.hex, d.digest);
    FUZZ_CHECK(d.hex.size() == 64, d.hex);
    FUZZ_CHECK(d.hex.find_first_not_of("0123456789abcdef") == std::string::npos, d.hex);
    FUZZ_CHECK(d.size >= 0, std::to_string(d.size));
}

}  // namespace

void fuzz_oci(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto v = compose::parse_json(text); v && v->is_number()) {
        // A size is accepted only as plain digits, and then exactly.
        if (auto n = compose::json_size(*v)) FUZZ_CHECK(std::to_string(*n) == v->text, v->text);
    }
    for (std::string_view ref : {std::string_view(), std::string_view("v1")}) {
        if (auto d = compose::select_manifest(text, ref)) {
            check_descriptor(*d);
            if (!ref.empty()) FUZZ_CHECK(d->ref_name == ref, d->ref_name);
        }
    }
    if (auto m = compose::parse_manifest(text)) {
        check_descriptor(m->config);
        for (const compose::Layer& l : m->layers) {
            check_descriptor(l.desc);
            std::string_view mt = l.desc.media_type;
            FUZZ_CHECK(mt.find("tar") != std::string_view::npos, l.desc.media_type);
            FUZZ_CHECK(mt.find("encrypted") == std::string_view::npos, l.desc.media_type);
        }
    }
}

}  // namespace imageinit::fuzz
