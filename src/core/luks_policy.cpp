// LUKS2 header policy (see luks_policy.h). The metadata is parsed by json-c, the parser
// libcryptsetup itself uses (already in the process with it), in strict mode, so the policy
// judges the header as cryptsetup will read it; the rules are a walk over the parsed tree.
#include "core/luks_policy.h"

#include <json-c/json.h>

#include <memory>
#include <string>

#include "core/path_rules.h"

namespace imageinit::core {
namespace {

constexpr int kMaxDepth = 32;  // a real header nests 4 deep

struct PutJson {
    void operator()(json_object* o) const { json_object_put(o); }
};
using JsonPtr = std::unique_ptr<json_object, PutJson>;
struct FreeTokener {
    void operator()(json_tokener* t) const { json_tokener_free(t); }
};

Unexpected malformed(const std::string& what, size_t at) {
    return fail(EINVAL, "LUKS2 header metadata is not valid JSON (" + what + " at byte " +
                            std::to_string(at) + ")");
}

Unexpected refused(const std::string& why) { return fail(EPERM, "LUKS2 header refused: " + why); }

bool blank(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Strict RFC 8259 JSON with valid UTF-8, one value, nothing after it but blanks.
Result<JsonPtr> parse(std::string_view text) {
    if (text.size() >= (1u << 30)) return malformed("too large", 0);
    std::unique_ptr<json_tokener, FreeTokener> tok(json_tokener_new_ex(kMaxDepth));
    if (!tok) return fail(ENOMEM, "json_tokener_new_ex: out of memory");
    json_tokener_set_flags(tok.get(), JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    // The terminating NUL is passed too: it ends a top-level number (json_tokener.h).
    std::string buf(text);
    JsonPtr root(json_tokener_parse_ex(tok.get(), buf.c_str(), static_cast<int>(buf.size() + 1)));
    json_tokener_error err = json_tokener_get_error(tok.get());
    size_t end = json_tokener_get_parse_end(tok.get());
    if (!root || err != json_tokener_success)
        return malformed(err == json_tokener_success ? "no value" : json_tokener_error_desc(err),
                         end);
    for (size_t i = end; i < text.size(); ++i)
        if (!blank(text[i])) return malformed("trailing data", i);
    return root;
}

std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "/" + key;
}

// No "encryption" anywhere (segment or key slot area) may be cipher_null.
Result<void> check_encryption(json_object* o, const std::string& path) {
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); ++i)
            TRY(check_encryption(json_object_array_get_idx(o, i), join(path, std::to_string(i))));
        return ok();
    }
    if (!json_object_is_type(o, json_type_object)) return ok();
    for (auto it = json_object_iter_begin(o), end = json_object_iter_end(o);
         !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        std::string key = json_object_iter_peek_name(&it);
        json_object* value = json_object_iter_peek_value(&it);
        std::string at = join(path, key);
        if (key == "encryption") {
            if (!json_object_is_type(value, json_type_string))
                return refused(quote_text(at) + " is not a string");
            std::string cipher = json_object_get_string(value);
            if (cipher.rfind("cipher_null", 0) == 0)
                return refused(quote_text(at) + " is " + quote_text(cipher) +
                               " (no encryption; CVE-2025-59054)");
        }
        TRY(check_encryption(value, at));
    }
    return ok();
}

// Every data segment is a plain "crypt" one, with scalar fields only (integrity, reencryption
// flags and the like are objects or arrays), and there is at least one.
Result<void> check_segments(json_object* root) {
    json_object* segments = nullptr;
    if (!json_object_object_get_ex(root, "segments", &segments) ||
        !json_object_is_type(segments, json_type_object) ||
        json_object_object_length(segments) == 0)
        return refused("no 'crypt' data segment");
    for (auto it = json_object_iter_begin(segments), end = json_object_iter_end(segments);
         !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        std::string name = json_object_iter_peek_name(&it);
        json_object* segment = json_object_iter_peek_value(&it);
        // Names and values come from the disk: quoted, so a message stays one line.
        std::string seg = "segment " + quote_text(name);
        if (!json_object_is_type(segment, json_type_object))
            return refused(seg + " is not an object");
        json_object* type = nullptr;
        if (!json_object_object_get_ex(segment, "type", &type) ||
            !json_object_is_type(type, json_type_string))
            return refused(seg + " has no type");
        std::string type_name = json_object_get_string(type);
        if (type_name != "crypt")
            return refused(seg + " has type " + quote_text(type_name) +
                           ", only 'crypt' is accepted");
        for (auto f = json_object_iter_begin(segment), fend = json_object_iter_end(segment);
             !json_object_iter_equal(&f, &fend); json_object_iter_next(&f)) {
            std::string field = json_object_iter_peek_name(&f);
            json_object* value = json_object_iter_peek_value(&f);
            if (field == "integrity" || json_object_is_type(value, json_type_object) ||
                json_object_is_type(value, json_type_array))
                return refused("unexpected segment field " +
                               quote_text("segments/" + name + "/" + field) +
                               " (authenticated or special segments are not accepted)");
        }
    }
    return ok();
}

}  // namespace

Result<void> check_luks2_policy(std::string_view json) {
    JsonPtr root = TRY(parse(json));
    if (!json_object_is_type(root.get(), json_type_object))
        return malformed("the metadata is not an object", 0);
    TRY(check_encryption(root.get(), ""));
    return check_segments(root.get());
}

}  // namespace imageinit::core
