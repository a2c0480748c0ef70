// Fuzz body: the lexical path rules. Input: "PATH" or "PATH\0PARENT". A normalised path is
// absolute, has no "..", "//" or "/./", is a fixed point of normalize_path, and stays below any
// root it is joined under.
#include <string>
#include <string_view>

#include "core/path_rules.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

void check_normalized(const std::string& p) {
    FUZZ_CHECK(!p.empty() && p.front() == '/', p);
    FUZZ_CHECK(p.find("//") == std::string::npos, p);
    FUZZ_CHECK(p.find("/./") == std::string::npos && !p.ends_with("/."), p);
    FUZZ_CHECK(p.find("/../") == std::string::npos && !p.ends_with("/.."), p);
    FUZZ_CHECK(p == "/" || p.back() != '/', p);
    FUZZ_CHECK(p.size() < core::kMaxPath, std::to_string(p.size()));
    FUZZ_CHECK(p.find('\0') == std::string::npos, p);
    for (unsigned char c : p) FUZZ_CHECK(c >= 0x20 && c != 0x7f, p);
    size_t start = 1;
    while (start < p.size()) {
        size_t end = p.find('/', start);
        if (end == std::string::npos) end = p.size();
        std::string_view comp = std::string_view(p).substr(start, end - start);
        FUZZ_CHECK(comp != ".." && comp != "." && !comp.empty(), p);
        FUZZ_CHECK(comp.size() <= core::kMaxComponent, p);
        start = end + 1;
    }
    // A fixed point: normalising again changes nothing.
    auto again = core::normalize_path(p);
    FUZZ_CHECK(again && *again == p, p);
    // Joined under a root it stays there, component-wise.
    std::string joined = core::join_under("/sysroot", p);
    FUZZ_CHECK(core::is_same_or_under(joined, "/sysroot"), joined);
    FUZZ_CHECK(core::is_same_or_under(p, "/"), p);
    // A refused area is a prefix of the path, component-wise.
    std::string_view area = core::refused_area(p);
    FUZZ_CHECK(area.empty() || core::is_same_or_under(p, area), p);
    FUZZ_CHECK(core::is_refused_target(p) == !area.empty(), p);
    for (std::string_view tree : {"/proc", "/sys", "/dev"}) {
        if (core::is_same_or_under(p, tree)) FUZZ_CHECK(core::is_refused_target(p), p);
    }
}

}  // namespace

void fuzz_path_rules(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string_view path = input.substr(0, input.find('\0'));
    std::string_view other =
        path.size() < input.size() ? input.substr(path.size() + 1) : std::string_view();

    auto normalized = core::normalize_path(path);
    if (normalized) {
        check_normalized(*normalized);
    } else {
        // Errors are one line: they go to the console and the journal.
        const std::string& msg = normalized.error().message;
        FUZZ_CHECK(msg.find('\n') == std::string::npos, msg);
    }

    // quote_text: one printable line in quotes, bounded.
    std::string quoted = core::quote_text(input);
    FUZZ_CHECK(quoted.size() >= 2 && quoted.front() == '\'', quoted);
    for (unsigned char c : quoted) FUZZ_CHECK(c >= 0x20 && c != 0x7f, quoted);
    FUZZ_CHECK(quoted.size() <= 2 + 4 * 200 + 3, std::to_string(quoted.size()));

    // is_same_or_under is component-wise: "/var2" is not under "/var".
    auto parent = core::normalize_path(other);
    if (normalized && parent && core::is_same_or_under(*normalized, *parent)) {
        FUZZ_CHECK(normalized->starts_with(*parent), *normalized + " under " + *parent);
        FUZZ_CHECK(*parent == "/" || normalized->size() == parent->size() ||
                       (*normalized)[parent->size()] == '/',
                   *normalized + " under " + *parent);
    }
}

}  // namespace imageinit::fuzz
