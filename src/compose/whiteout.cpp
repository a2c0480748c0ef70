// Whiteout classification. Kept free of I/O so the spec's table can be checked entry by entry in
// tests/compose/whiteout_test.cpp.
#include "compose/whiteout.h"

#include <algorithm>

namespace imageinit::compose {
namespace {

std::string parent_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string join(const std::string& dir, std::string_view name) {
    return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

}  // namespace

Result<std::string> normalize_entry_path(std::string_view path) {
    if (path.find('\0') != std::string_view::npos) return fail("entry path contains a nul byte");
    std::string out;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        std::string_view part = path.substr(pos, end - pos);
        pos = end + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..")
            return fail("entry path '" + std::string(path) + "' escapes the layer root");
        if (!out.empty()) out += '/';
        out += part;
    }
    return out;
}

EntryDecision classify_entry(std::string_view raw) {
    EntryDecision d;
    auto normalized = normalize_entry_path(raw);
    if (!normalized) {
        d.reason = normalized.error().message;
        return d;
    }
    d.path = *normalized;
    // A whiteout is a file: nothing may live below one.
    std::string parent = parent_of(d.path);
    for (size_t pos = 0; pos < parent.size();) {
        size_t end = std::min(parent.find('/', pos), parent.size());
        std::string_view part = std::string_view(parent).substr(pos, end - pos);
        if (part.starts_with(".wh..wh.")) {  // inside a reserved AUFS directory (.wh..wh.plnk)
            d.kind = EntryKind::kIgnore;
            return d;
        }
        if (part.starts_with(kWhiteoutPrefix)) {
            d.reason = "entry '" + d.path + "' lies below a whiteout";
            return d;
        }
        pos = end + 1;
    }
    std::string_view name = std::string_view(d.path).substr(parent.empty() ? 0 : parent.size() + 1);
    if (name == kOpaqueMarker) {
        d.kind = EntryKind::kOpaque;
        d.target = parent;
        return d;
    }
    if (name.starts_with(".wh..wh.")) {
        d.kind = EntryKind::kIgnore;
        return d;
    }
    if (name.starts_with(kWhiteoutPrefix)) {
        std::string_view hidden = name.substr(kWhiteoutPrefix.size());
        if (hidden.empty() || hidden == "." || hidden == "..") {
            d.reason = "malformed whiteout '" + d.path + "'";
            return d;
        }
        d.kind = EntryKind::kWhiteout;
        d.target = join(parent, hidden);
        return d;
    }
    d.kind = EntryKind::kApply;
    return d;
}

Result<LayerPlan> plan_layer(const std::vector<std::string>& entry_paths) {
    LayerPlan plan;
    for (const std::string& raw : entry_paths) {
        EntryDecision d = classify_entry(raw);
        switch (d.kind) {
            case EntryKind::kReject:
                return fail(d.reason);
            case EntryKind::kOpaque:
                plan.opaque_dirs.push_back(d.target);
                break;
            case EntryKind::kWhiteout:
                plan.deletions.push_back(d.target);
                break;
            case EntryKind::kIgnore:
                plan.ignored.push_back(d.path);
                break;
            case EntryKind::kApply:
                if (!d.path.empty()) plan.content.push_back(d.path);
                break;
        }
    }
    // Sorted order puts every directory before its children ("a" < "a/b") and makes the
    // result independent of the archive's order.
    for (auto* v : {&plan.opaque_dirs, &plan.deletions, &plan.content}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    return plan;
}

}  // namespace imageinit::compose
