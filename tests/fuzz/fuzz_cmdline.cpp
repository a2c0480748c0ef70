// Fuzz body: the kernel command line parser. Never fails, never crashes, and whatever it keeps
// from the line is within the bounds the rest of the boot relies on.
#include <string>
#include <string_view>

#include "core/cmdline.h"
#include "core/kernel_cmdline.h"
#include "core/kexec_decision.h"
#include "fuzz_targets.h"

namespace imageinit::fuzz {
namespace {

bool has_control(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

}  // namespace

void fuzz_cmdline(const uint8_t* data, size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);

    for (const std::string& word : core::split_cmdline(line)) {
        FUZZ_CHECK(word.find('"') == std::string::npos, word);  // quotes are removed
    }

    core::BootConfig cfg = core::parse_cmdline(line);
    // Device specs reach libblkid and messages: non-empty, bounded, no control characters.
    FUZZ_CHECK(!cfg.state_spec.empty() && cfg.state_spec.size() <= 512, cfg.state_spec);
    FUZZ_CHECK(!has_control(cfg.state_spec), cfg.state_spec);
    if (cfg.persist_spec) {
        FUZZ_CHECK(!cfg.persist_spec->empty() && cfg.persist_spec->size() <= 512,
                   *cfg.persist_spec);
        FUZZ_CHECK(!has_control(*cfg.persist_spec), *cfg.persist_spec);
    }
    // Slot names become file names on the state and persistent partitions.
    if (cfg.forced_slot) FUZZ_CHECK(core::valid_slot_name(*cfg.forced_slot), *cfg.forced_slot);
    for (const auto& [name, spec] : cfg.slot_specs) {
        FUZZ_CHECK(core::valid_slot_name(name), name);
        FUZZ_CHECK(!spec.empty() && spec.size() <= 512 && !has_control(spec), spec);
    }
    for (const auto& [name, hex] : cfg.roothash) {
        FUZZ_CHECK(core::valid_slot_name(name), name);
        FUZZ_CHECK(!hex.empty() && hex.size() <= 128 && hex.size() % 2 == 0, hex);
        FUZZ_CHECK(hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos, hex);
    }
    FUZZ_CHECK(cfg.timeout_sec >= 0 && cfg.timeout_sec <= 3600, std::to_string(cfg.timeout_sec));
    FUZZ_CHECK(cfg.watchdog_sec >= 0 && cfg.watchdog_sec <= 3600, std::to_string(cfg.watchdog_sec));
    // The image's init is exec'd: an absolute path without control characters.
    FUZZ_CHECK(!cfg.init.empty() && cfg.init[0] == '/' && !has_control(cfg.init), cfg.init);
    if (cfg.break_step) FUZZ_CHECK(cfg.break_step->size() <= 64, *cfg.break_step);
    // Only an explicit imageinit.shell word (before "--") turns the emergency shell on
    // (CVE-2016-4484: no failure path may reach a shell otherwise), and imageinit.shell=0 (or
    // no/false/off) turns it off again: the last such word wins, anything else is ignored.
    bool want_shell = false;
    for (const std::string& word : core::split_cmdline(line)) {
        if (word == "--") break;
        size_t eq = word.find('=');
        if (std::string_view(word).substr(0, eq) != "imageinit.shell") continue;
        if (eq == std::string::npos) {
            want_shell = true;
            continue;
        }
        std::string_view v = std::string_view(word).substr(eq + 1);
        if (v == "1" || v == "yes" || v == "true" || v == "on") want_shell = true;
        if (v == "0" || v == "no" || v == "false" || v == "off") want_shell = false;
    }
    FUZZ_CHECK(cfg.shell == want_shell, "shell without the key, or its value ignored");

    // The one parse PID 1 does gives every reader the same view as the separate parsers.
    core::KernelCmdline all = core::parse_kernel_cmdline(line);
    FUZZ_CHECK(all.raw == line, "raw text changed");
    FUZZ_CHECK(all.boot.init == cfg.init && all.boot.warnings == cfg.warnings, "boot differs");
    FUZZ_CHECK(all.modules.options == core::parse_module_cmdline(line).options, "modules differ");
    FUZZ_CHECK(all.kexec_marker == core::has_kexec_marker(line), "marker differs");
}

}  // namespace imageinit::fuzz
