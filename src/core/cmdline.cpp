// Kernel command line parsing (contract §3). The kernel hands us one string; this turns it into
// a BootConfig and never fails: a bad value keeps the default and leaves a warning. Every key is
// one row of kKeys: its name, the kind of value it takes, and where the value goes.
#include "core/cmdline.h"

#include <charconv>

namespace imageinit::core {
namespace {

constexpr int kMaxSeconds = 3600;

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// Device specs end up in libblkid lookups and messages: refuse control characters and absurd
// lengths here so nothing later has to think about them.
bool plausible_spec(std::string_view spec) {
    if (spec.empty() || spec.size() > 512) return false;
    for (unsigned char c : spec)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

bool plausible_hex(std::string_view hex) {
    if (hex.empty() || hex.size() > 128 || hex.size() % 2 != 0) return false;
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    return true;
}

std::string quoted(std::string_view s) { return "'" + std::string(s.substr(0, 64)) + "'"; }

// A value that passed its kind's check; which member is meaningful depends on the kind.
struct Value {
    std::string_view text;  // kPath, kSpec, kSlotName, kStep, kHex
    bool on = false;        // kFlag
    int seconds = 0;        // kSeconds
};

// Where a checked value goes. SLOT is the name after the key for per-slot keys, else empty.
using Setter = void (*)(BootConfig& cfg, std::string_view slot, const Value& v);

struct Key {
    std::string_view name;  // the whole key, or for a per-slot key the part before "SLOT"
    bool per_slot;          // "NAME" + a slot name ("imageinit.slot.a")
    CmdlineKind kind;
    Setter set;
    int BootConfig::*seconds = nullptr;  // kSeconds: the field, named in "keeping N"
};

std::string str(std::string_view s) { return std::string(s); }

// The table. Exact names are matched before per-slot prefixes, so "imageinit.slot" and
// "imageinit.persist.required" never fall into a prefix row.
constexpr Key kKeys[] = {
    {"init", false, CmdlineKind::kPath,
     [](BootConfig& c, std::string_view, const Value& v) { c.init = str(v.text); }},
    {"imageinit.state", false, CmdlineKind::kSpec,
     [](BootConfig& c, std::string_view, const Value& v) { c.state_spec = str(v.text); }},
    {"imageinit.persist", false, CmdlineKind::kSpec,
     [](BootConfig& c, std::string_view, const Value& v) {
         if (v.text == "none")
             c.persist_spec.reset();
         else
             c.persist_spec = str(v.text);
     }},
    {"imageinit.persist.required", false, CmdlineKind::kFlag,
     [](BootConfig& c, std::string_view, const Value& v) { c.persist_required = v.on; }},
    {"imageinit.slot", false, CmdlineKind::kSlotName,
     [](BootConfig& c, std::string_view, const Value& v) { c.forced_slot = str(v.text); }},
    {"imageinit.slot.", true, CmdlineKind::kSpec,
     [](BootConfig& c, std::string_view slot, const Value& v) {
         c.slot_specs[str(slot)] = str(v.text);
     }},
    {"imageinit.timeout", false, CmdlineKind::kSeconds,
     [](BootConfig& c, std::string_view, const Value& v) { c.timeout_sec = v.seconds; },
     &BootConfig::timeout_sec},
    {"imageinit.watchdog", false, CmdlineKind::kSeconds,
     [](BootConfig& c, std::string_view, const Value& v) { c.watchdog_sec = v.seconds; },
     &BootConfig::watchdog_sec},
    {"imageinit.debug", false, CmdlineKind::kFlag,
     [](BootConfig& c, std::string_view, const Value& v) { c.debug = v.on; }},
    {"imageinit.shell", false, CmdlineKind::kFlag,
     [](BootConfig& c, std::string_view, const Value& v) { c.shell = v.on; }},
    {"imageinit.break", false, CmdlineKind::kStep,
     [](BootConfig& c, std::string_view, const Value& v) { c.break_step = str(v.text); }},
    {"imageinit.roothash.", true, CmdlineKind::kHex,
     [](BootConfig& c, std::string_view slot, const Value& v) {
         c.roothash[str(slot)] = str(v.text);
     }},
    // Contract §14: a "factory reset" boot-menu entry. Every boot with it resets PERSIST.
    {"imageinit.reset", false, CmdlineKind::kReset,
     [](BootConfig& c, std::string_view, const Value&) { c.reset_persist = true; }},
    // Set by imageinit itself on a kernel it kexecs into (§7); KernelCmdline::kexec_marker.
    {"imageinit.kexec", false, CmdlineKind::kMarker, nullptr},
};

const Key* find_key(std::string_view key) {
    for (const Key& k : kKeys)
        if (!k.per_slot && k.name == key) return &k;
    for (const Key& k : kKeys)
        if (k.per_slot && starts_with(key, k.name)) return &k;
    return nullptr;
}

// Checks VALUE against the key's kind: the checked value, or nullopt and one warning.
std::optional<Value> check(const Key& k, std::string_view key,
                           std::optional<std::string_view> value, BootConfig& cfg) {
    auto& warnings = cfg.warnings;
    auto need = [&](std::string_view what) {
        warnings.push_back(str(key) + " needs a value (" + str(what) + "); ignored");
        return std::nullopt;
    };
    auto refuse = [&](std::string_view what) {
        warnings.push_back(str(key) + "=" + quoted(*value) + " is not " + str(what) + "; ignored");
        return std::nullopt;
    };
    bool empty = !value || value->empty();
    Value v;
    if (value) v.text = *value;
    switch (k.kind) {
        case CmdlineKind::kFlag:
            // The bare key or 1/yes/true/on turn a switch on, 0/no/false/off off; anything else
            // keeps the default (off). imageinit.shell=0 must never start a shell.
            if (!value || *value == "1" || *value == "yes" || *value == "true" || *value == "on")
                v.on = true;
            else if (*value == "0" || *value == "no" || *value == "false" || *value == "off")
                v.on = false;
            else
                return refuse("a yes/no value");
            return v;
        case CmdlineKind::kPath:
            if (empty) return need("a path");
            if ((*value)[0] != '/' || !plausible_spec(*value)) return refuse("an absolute path");
            return v;
        case CmdlineKind::kSpec:
            if (empty) return need("a device spec");
            if (!plausible_spec(*value)) return refuse("a device spec");
            return v;
        case CmdlineKind::kSlotName:
            if (empty) return need("a slot name");
            if (!valid_slot_name(*value)) return refuse("a valid slot name");
            return v;
        case CmdlineKind::kSeconds: {
            if (empty) return need("seconds");
            int secs = -1;
            auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), secs);
            if (ec != std::errc() || ptr != value->data() + value->size() || secs < 0 ||
                secs > kMaxSeconds) {
                warnings.push_back(str(key) + "=" + quoted(*value) +
                                   " is not a number of seconds (0-" + std::to_string(kMaxSeconds) +
                                   "); keeping " + std::to_string(cfg.*k.seconds));
                return std::nullopt;
            }
            v.seconds = secs;
            return v;
        }
        case CmdlineKind::kStep:
            if (empty) return need("a step name");
            v.text = value->substr(0, 64);
            return v;
        case CmdlineKind::kHex:
            if (empty) return need("a hex root hash");
            if (!plausible_hex(*value)) return refuse("a hex root hash");
            return v;
        case CmdlineKind::kReset:
            if (empty) return need("what to reset: persist");
            if (*value != "persist") return refuse("something to reset (persist)");
            return v;
        case CmdlineKind::kMarker:
            return std::nullopt;
    }
    return std::nullopt;
}

void apply(BootConfig& cfg, std::string_view key, std::optional<std::string_view> value) {
    const Key* k = find_key(key);
    if (!k) {
        if (starts_with(key, "imageinit."))
            cfg.warnings.push_back("unknown option " + quoted(key) + " ignored");
        return;
    }
    std::string_view slot;
    if (k->per_slot) {
        slot = key.substr(k->name.size());
        if (!valid_slot_name(slot)) {
            cfg.warnings.push_back(str(key) + ": " + quoted(slot) +
                                   " is not a valid slot name; ignored");
            return;
        }
    }
    if (auto v = check(*k, key, value, cfg)) k->set(cfg, slot, *v);
}

}  // namespace

std::vector<CmdlineKey> cmdline_keys() {
    std::vector<CmdlineKey> out;
    for (const Key& k : kKeys) out.push_back({std::string(k.name), k.per_slot, k.kind});
    return out;
}

bool valid_slot_name(std::string_view name) {
    if (name.empty() || name.size() > 32) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

std::vector<std::string> split_cmdline(std::string_view cmdline) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false, in_quotes = false;
    for (char c : cmdline) {
        if (c == '"') {
            in_quotes = !in_quotes;
            in_word = true;
            continue;
        }
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (space && !in_quotes) {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
            continue;
        }
        word += c;
        in_word = true;
    }
    if (in_word) words.push_back(std::move(word));
    return words;
}

BootConfig parse_cmdline(std::string_view cmdline) {
    BootConfig cfg;
    std::vector<std::string> seen;
    bool after_dashes = false;
    for (const std::string& word : split_cmdline(cmdline)) {
        if (after_dashes) {
            cfg.init_args.push_back(word);
            continue;
        }
        if (word == "--") {
            after_dashes = true;
            continue;
        }
        auto eq = word.find('=');
        std::string_view key(word.data(), eq == std::string::npos ? word.size() : eq);
        std::optional<std::string_view> value;
        if (eq != std::string::npos) value = std::string_view(word).substr(eq + 1);
        if (starts_with(key, "imageinit.") || key == "init") {
            // The kernel's rule: the last occurrence wins. Say so, since it surprises people.
            for (const auto& s : seen)
                if (s == key) {
                    cfg.warnings.push_back("option " + quoted(key) +
                                           " given more than once; the last one wins");
                    break;
                }
            seen.emplace_back(key);
        }
        apply(cfg, key, value);
    }
    return cfg;
}

}  // namespace imageinit::core
