// Parser and validator of the image's mount spec (/etc/imageinit/fstab, contract §5).
// libmount reads each line (fstab syntax, \040-style escapes); this file classifies the entry,
// checks it and reports the first problem as "FILE:LINE: what is wrong".
#include "core/mount_spec.h"

#include <libmount/libmount.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <unordered_map>

#include "core/path_rules.h"
#include "core/spec_options.h"

namespace imageinit::core {

const char kDefaultSpecText[] =
    "# Used when the image has no /etc/imageinit/fstab. The executor skips an entry of this\n"
    "# default spec whose mount point does not exist in the image (and says so in the log);\n"
    "# in an image's own spec a missing mount point fails the slot.\n"
    "tmpfs /tmp tmpfs mode=1777,nosuid,nodev\n"
    "overlay /etc overlay x-imageinit.upper=tmpfs\n"
    "persist:/var /var overlay x-imageinit.upper=persist\n";

namespace {

constexpr std::string_view kPersistPrefix = "persist:";
constexpr std::string_view kLineSyntax = "'SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]'";

struct TableDeleter {
    void operator()(libmnt_table* table) const { mnt_unref_table(table); }
};
using TablePtr = std::unique_ptr<libmnt_table, TableDeleter>;

// The four fields of one line, as libmount decoded them.
struct RawEntry {
    std::string source, target, fstype, options;
};

// Feeds libmount one line at a time, so every entry and every error has its line number.
// libmount guesses a table's format from the first line it reads (a line starting with two
// numbers reads as mountinfo), so the table is primed with one fstab line and then reused: its
// format stays fstab for every line that follows.
class LineParser {
  public:
    bool init() {
        table_.reset(mnt_new_table());
        if (!table_) return false;
        return parse("none /imageinit-primer none defaults\n").has_value();
    }

    // nullopt when libmount does not accept the line as exactly one fstab entry.
    std::optional<RawEntry> parse(std::string_view line) {
        buffer_.assign(line);
        if (buffer_.empty() || buffer_.back() != '\n') buffer_ += '\n';
        FILE* stream = fmemopen(buffer_.data(), buffer_.size(), "r");
        if (stream == nullptr) return std::nullopt;
        int rc = mnt_table_parse_stream(table_.get(), stream, "spec");
        fclose(stream);
        libmnt_fs* fs = nullptr;
        if (rc != 0 || mnt_table_get_nents(table_.get()) != 1 ||
            mnt_table_first_fs(table_.get(), &fs) != 0) {
            clear();
            return std::nullopt;
        }
        auto field = [](const char* s) { return std::string(s != nullptr ? s : ""); };
        RawEntry raw{field(mnt_fs_get_source(fs)), field(mnt_fs_get_target(fs)),
                     field(mnt_fs_get_fstype(fs)), field(mnt_fs_get_options(fs))};
        clear();
        return raw;
    }

  private:
    void clear() {
        libmnt_fs* fs = nullptr;
        while (mnt_table_first_fs(table_.get(), &fs) == 0) mnt_table_remove_fs(table_.get(), fs);
    }

    TablePtr table_;
    std::string buffer_;
};

bool is_device_source(std::string_view source) {
    for (std::string_view tag : {"LABEL=", "UUID=", "PARTLABEL=", "PARTUUID="}) {
        if (source.starts_with(tag)) return true;
    }
    return source.starts_with("/dev/");
}

Result<void> check_device_source(std::string_view source) {
    if (source.starts_with("/dev/")) {
        auto path = normalize_path(source);
        if (!path) return fail("device " + std::move(path).error().message);
        return ok();
    }
    std::string_view value = source.substr(source.find('=') + 1);
    if (value.empty()) return fail("source " + quote_text(source) + " has an empty value");
    for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return fail("source " + quote_text(source) + " contains a control character");
        }
    }
    return ok();
}

// Decides the kind from source, fstype and options; every combination that is not one of the
// five kinds of contract §5 is an error that says what would make it one.
Result<EntryKind> classify(const RawEntry& raw, const OptionFacts& facts) {
    const bool persist = raw.source.starts_with(kPersistPrefix);
    if (facts.upper && *facts.upper != "tmpfs" && *facts.upper != "persist") {
        return fail("invalid value " + quote_text(*facts.upper) +
                    " for option 'x-imageinit.upper': expected 'tmpfs' or 'persist'");
    }
    if (facts.upper && raw.fstype != "overlay") {
        return fail("option 'x-imageinit.upper' is only valid with fstype 'overlay'");
    }
    if (persist) {
        if (facts.bind) {
            if (raw.fstype != "none") {
                return fail("a persistent bind needs fstype 'none', not " + quote_text(raw.fstype));
            }
            return EntryKind::kPersistBind;
        }
        if (raw.fstype == "overlay" && facts.upper == "persist") return EntryKind::kPersistOverlay;
        if (raw.fstype == "overlay" && facts.upper == "tmpfs") {
            return fail(
                "a 'persist:' source needs 'x-imageinit.upper=persist', not "
                "'x-imageinit.upper=tmpfs'");
        }
        return fail(
            "a 'persist:' source needs option 'bind' (fstype 'none') or fstype 'overlay' with "
            "'x-imageinit.upper=persist'");
    }
    if (facts.bind) return fail("option 'bind' needs a 'persist:/PATH' source");
    if (raw.fstype == "overlay") {
        if (!facts.upper) {
            return fail(
                "overlay needs option 'x-imageinit.upper=tmpfs' or 'x-imageinit.upper=persist'");
        }
        if (*facts.upper == "persist") {
            return fail("option 'x-imageinit.upper=persist' needs a 'persist:/PATH' source");
        }
        return EntryKind::kTempOverlay;
    }
    if (raw.fstype == "tmpfs") return EntryKind::kTmpfs;
    // Both are fstab words for "not a mount": "none" only makes sense with a bind, "swap" not here.
    if (raw.fstype == "none") return fail("fstype 'none' needs option 'bind'");
    if (raw.fstype == "swap") return fail("fstype 'swap' is not supported: the spec holds mounts");
    if (is_device_source(raw.source)) {
        TRY(check_device_source(raw.source));
        return EntryKind::kDevice;
    }
    return fail("unsupported source " + quote_text(raw.source) +
                ": expected LABEL=, UUID=, PARTLABEL=, PARTUUID=, a /dev/ path or "
                "'persist:/PATH'");
}

bool is_persistent(EntryKind kind) {
    return kind == EntryKind::kPersistBind || kind == EntryKind::kPersistOverlay;
}

// Builds one entry from one line; errors come back without file:line.
Result<SpecEntry> make_entry(const RawEntry& raw) {
    SpecEntry entry;
    entry.source = raw.source;
    entry.fstype = raw.fstype;
    auto target = normalize_path(raw.target);
    if (!target) return fail("mount point: " + std::move(target).error().message);
    entry.target = std::move(*target);
    std::string_view area = refused_area(entry.target);
    if (area == "/") return fail("mount point '/' is not allowed: it is the image itself");
    if (!area.empty()) {
        return fail("mount point " + quote_text(entry.target) +
                    " is not allowed: nothing is mounted on or under " + quote_text(area));
    }

    OptionFacts facts = TRY(read_options(raw.options));
    entry.kind = TRY(classify(raw, facts));
    entry.options = facts.kept;
    entry.nofail = facts.nofail;
    TRY(check_no_path_in_data(entry.options));

    if (is_persistent(entry.kind)) {
        auto path = normalize_path(std::string_view(raw.source).substr(kPersistPrefix.size()));
        if (!path) return fail("persistent path: " + std::move(path).error().message);
        if (*path == "/") {
            return fail("persistent path '/' is not allowed: name a directory below it");
        }
        entry.persist_path = std::move(*path);
        if (facts.suid) return fail("option 'suid' is not allowed on a persistent mount");
        if (facts.dev) return fail("option 'dev' is not allowed on a persistent mount");
        if (facts.scope && *facts.scope != "shared" && *facts.scope != "slot") {
            return fail("invalid value " + quote_text(*facts.scope) +
                        " for option 'x-imageinit.scope': expected 'shared' or 'slot'");
        }
        entry.scope = facts.scope == "slot" ? PersistScope::kSlot : PersistScope::kShared;
    } else if (facts.scope) {
        return fail("option 'x-imageinit.scope' is only valid on a persistent entry");
    }
    if (entry.nofail && entry.kind != EntryKind::kDevice) {
        return fail("option 'nofail' is only valid on a device entry");
    }
    return entry;
}

Unexpected at_line(std::string_view file, int line, std::string message) {
    return fail(std::string(file) + ":" + std::to_string(line) + ": " + message);
}

// Orders paths so that every directory comes right before the paths below it ('/' sorts first).
bool tree_order(const std::string& a, const std::string& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        auto key = [](char c) { return c == '/' ? 0 : static_cast<unsigned char>(c) + 1; };
        return key(x) < key(y);
    });
}

// Two persistent entries of one scope whose directories nest would share files: an overlay's
// upper dir changed behind overlayfs' back, or one bind showing part of another. Refused.
Result<void> check_persistent_overlap(const MountSpec& spec) {
    std::vector<const SpecEntry*> persistent;
    for (const SpecEntry& e : spec.entries) {
        if (is_persistent(e.kind)) persistent.push_back(&e);
    }
    std::stable_sort(persistent.begin(), persistent.end(), [](auto* a, auto* b) {
        if (a->scope != b->scope) return a->scope < b->scope;
        return tree_order(a->persist_path, b->persist_path);
    });
    const SpecEntry* worst_inner = nullptr;
    const SpecEntry* worst_outer = nullptr;
    std::vector<const SpecEntry*> ancestors;
    for (const SpecEntry* e : persistent) {
        while (!ancestors.empty() &&
               (ancestors.back()->scope != e->scope ||
                !is_same_or_under(e->persist_path, ancestors.back()->persist_path))) {
            ancestors.pop_back();
        }
        if (!ancestors.empty()) {
            const SpecEntry* outer = ancestors.back();
            const SpecEntry* inner = e;
            if (outer->line > inner->line) std::swap(outer, inner);  // report the later line
            if (worst_inner == nullptr || inner->line < worst_inner->line) {
                worst_inner = inner;
                worst_outer = outer;
            }
        }
        ancestors.push_back(e);
    }
    if (worst_inner != nullptr) {
        return at_line(spec.file, worst_inner->line,
                       "persistent path " + quote_text(worst_inner->persist_path) + " overlaps " +
                           quote_text(worst_outer->persist_path) + " of line " +
                           std::to_string(worst_outer->line) + " (same scope)");
    }
    return ok();
}

}  // namespace

Result<MountSpec> parse_mount_spec(std::string_view text, std::string_view file_name) {
    MountSpec spec;
    spec.file = std::string(file_name);
    LineParser parser;
    if (!parser.init()) return fail(spec.file + ": cannot set up the libmount parser");
    std::unordered_map<std::string, int> first_line_of_target;

    int line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == text.npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;

        size_t first = line.find_first_not_of(" \t");
        if (first == line.npos || line[first] == '#') continue;
        for (char c : line) {
            auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) {
                return at_line(
                    spec.file, line_no,
                    "line contains a control character " + quote_text(std::string_view(&c, 1)));
            }
        }
        std::optional<RawEntry> raw = parser.parse(line);
        if (!raw)
            return at_line(spec.file, line_no,
                           "cannot parse line: expected " + std::string(kLineSyntax));
        auto entry = make_entry(*raw);
        if (!entry) return at_line(spec.file, line_no, std::move(entry).error().message);
        auto [it, inserted] = first_line_of_target.emplace(entry->target, line_no);
        if (!inserted) {
            return at_line(spec.file, line_no,
                           "duplicate mount point " + quote_text(entry->target) +
                               " (first on line " + std::to_string(it->second) + ")");
        }
        entry->file = spec.file;
        entry->line = line_no;
        spec.entries.push_back(std::move(*entry));
    }
    TRY(check_persistent_overlap(spec));
    return spec;
}

MountSpec default_mount_spec() {
    auto spec = parse_mount_spec(kDefaultSpecText, "(default spec)");
    // The text is a constant checked by a unit test; an empty spec is the safe fallback anyway.
    MountSpec out = spec ? std::move(*spec) : MountSpec{"(default spec)", {}, true};
    out.is_default = true;
    return out;
}

const char* entry_kind_name(EntryKind kind) {
    switch (kind) {
        case EntryKind::kTmpfs:
            return "tmpfs";
        case EntryKind::kTempOverlay:
            return "temporary overlay";
        case EntryKind::kPersistBind:
            return "persistent bind";
        case EntryKind::kPersistOverlay:
            return "persistent overlay";
        case EntryKind::kDevice:
            return "device";
    }
    return "unknown";
}

}  // namespace imageinit::core
