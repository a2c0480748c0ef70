// Kernel command line parsing (contract §3): plain string in, BootConfig out.
// Never fails: unknown imageinit.* keys and bad values become warnings, defaults stay.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imageinit::core {

struct BootConfig {
    std::string state_spec = "LABEL=STATE";
    std::optional<std::string> persist_spec = "LABEL=PERSIST";  // nullopt: imageinit.persist=none
    bool persist_required = false;                               // imageinit.persist.required
    std::map<std::string, std::string> slot_specs;  // imageinit.slot.NAME=SPEC (partition slots)
    std::optional<std::string> forced_slot;         // imageinit.slot=a|b|recovery
    int timeout_sec = 30;                           // imageinit.timeout=SECONDS (device wait)
    int watchdog_sec = 60;                          // imageinit.watchdog=SECONDS (0: off)
    bool debug = false;                             // imageinit.debug
    bool shell = false;                             // imageinit.shell
    std::optional<std::string> break_step;          // imageinit.break=STEP
    std::map<std::string, std::string> roothash;    // imageinit.roothash.NAME=HEX
    std::string init = "/sbin/init";                // init=
    std::vector<std::string> init_args;             // words after "--" go to the image's init
    std::vector<std::string> warnings;              // one line each, for the log
};

// Splits a command line into words the way the kernel does: whitespace separates, double
// quotes group (and are removed), no other escapes.
std::vector<std::string> split_cmdline(std::string_view cmdline);

BootConfig parse_cmdline(std::string_view cmdline);

// True for a slot name we accept: [a-z0-9_-]{1,32}. Slot names end up in file names.
bool valid_slot_name(std::string_view name);

}  // namespace imageinit::core
