// Kernel command line parsing (contract §3). The kernel hands us one string; this turns it into
// a BootConfig and never fails: a bad value keeps the default and leaves a warning.
#include "core/cmdline.h"

#include <charconv>

namespace imageinit::core {
namespace {

constexpr int kMaxTimeoutSec = 3600;

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

void apply(BootConfig& cfg, std::string_view key, std::optional<std::string_view> value) {
    auto need_value = [&](std::string_view what) -> bool {
        if (value && !value->empty()) return true;
        cfg.warnings.push_back(std::string(key) + " needs a value (" + std::string(what) +
                               "); ignored");
        return false;
    };
    // Boolean switches: the bare key or 1/yes/true/on turn them on, 0/no/false/off off; anything
    // else keeps the default (off). imageinit.shell=0 must never start a shell.
    auto flag = [&](bool& into) {
        if (!value || *value == "1" || *value == "yes" || *value == "true" || *value == "on") {
            into = true;
        } else if (*value == "0" || *value == "no" || *value == "false" || *value == "off") {
            into = false;
        } else {
            cfg.warnings.push_back(std::string(key) + "=" + quoted(*value) +
                                   " is not a yes/no value; ignored");
        }
    };
    // SECONDS values (imageinit.timeout, imageinit.watchdog): 0-3600, digits only.
    auto seconds = [&](int& into) {
        if (!need_value("seconds")) return;
        int secs = -1;
        auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), secs);
        if (ec != std::errc() || ptr != value->data() + value->size() || secs < 0 ||
            secs > kMaxTimeoutSec) {
            cfg.warnings.push_back(std::string(key) + "=" + quoted(*value) +
                                   " is not a number of seconds (0-3600); keeping " +
                                   std::to_string(into));
            return;
        }
        into = secs;
    };
    auto spec_value = [&]() -> bool {
        if (!need_value("a device spec")) return false;
        if (plausible_spec(*value)) return true;
        cfg.warnings.push_back(std::string(key) + "=" + quoted(*value) +
                               " is not a device spec; ignored");
        return false;
    };

    if (key == "init") {
        if (need_value("a path") && (*value)[0] == '/' && plausible_spec(*value))
            cfg.init = std::string(*value);
        else if (value && !value->empty())
            cfg.warnings.push_back("init=" + quoted(*value) + " is not an absolute path; ignored");
        return;
    }
    if (key == "imageinit.state") {
        if (spec_value()) cfg.state_spec = std::string(*value);
    } else if (key == "imageinit.persist") {
        if (!spec_value()) return;
        if (*value == "none")
            cfg.persist_spec.reset();
        else
            cfg.persist_spec = std::string(*value);
    } else if (key == "imageinit.persist.required") {
        flag(cfg.persist_required);
    } else if (key == "imageinit.slot") {
        if (!need_value("a slot name")) return;
        if (valid_slot_name(*value))
            cfg.forced_slot = std::string(*value);
        else
            cfg.warnings.push_back("imageinit.slot=" + quoted(*value) +
                                   " is not a valid slot name; ignored");
    } else if (starts_with(key, "imageinit.slot.")) {
        std::string_view name = key.substr(std::string_view("imageinit.slot.").size());
        if (!valid_slot_name(name)) {
            cfg.warnings.push_back(std::string(key) + ": " + quoted(name) +
                                   " is not a valid slot name; ignored");
            return;
        }
        if (spec_value()) cfg.slot_specs[std::string(name)] = std::string(*value);
    } else if (key == "imageinit.timeout") {
        seconds(cfg.timeout_sec);
    } else if (key == "imageinit.watchdog") {
        seconds(cfg.watchdog_sec);
    } else if (key == "imageinit.debug") {
        flag(cfg.debug);
    } else if (key == "imageinit.shell") {
        flag(cfg.shell);
    } else if (key == "imageinit.break") {
        if (need_value("a step name")) cfg.break_step = std::string(value->substr(0, 64));
    } else if (starts_with(key, "imageinit.roothash.")) {
        std::string_view name = key.substr(std::string_view("imageinit.roothash.").size());
        if (!valid_slot_name(name)) {
            cfg.warnings.push_back(std::string(key) + ": " + quoted(name) +
                                   " is not a valid slot name; ignored");
            return;
        }
        if (!need_value("a hex root hash")) return;
        if (plausible_hex(*value))
            cfg.roothash[std::string(name)] = std::string(*value);
        else
            cfg.warnings.push_back(std::string(key) + "=" + quoted(*value) +
                                   " is not a hex root hash; ignored");
    } else if (key == "imageinit.kexec") {
        // Set by imageinit itself on a kernel it kexecs into (§7); read by
        // core::has_kexec_marker from the raw command line.
    } else if (starts_with(key, "imageinit.")) {
        cfg.warnings.push_back("unknown option " + quoted(key) + " ignored");
    }
}

}  // namespace

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
