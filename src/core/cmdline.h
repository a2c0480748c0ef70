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
    bool persist_required = false;                              // imageinit.persist.required
    std::map<std::string, std::string> slot_specs;  // imageinit.slot.NAME=SPEC (partition slots)
    std::optional<std::string> forced_slot;         // imageinit.slot=a|b|recovery
    int timeout_sec = 30;                           // imageinit.timeout=SECONDS (device wait)
    int watchdog_sec = 60;                          // imageinit.watchdog=SECONDS (0: off, §14)
    bool debug = false;                             // imageinit.debug
    bool shell = false;                             // imageinit.shell
    std::optional<std::string> break_step;          // imageinit.break=STEP
    std::map<std::string, std::string> roothash;    // imageinit.roothash.NAME=HEX
    bool reset_persist = false;                     // imageinit.reset=persist (factory reset)
    std::string init = "/sbin/init";                // init=
    std::vector<std::string> init_args;             // words after "--" go to the image's init
    std::vector<std::string> warnings;              // one line each, for the log
};

// Splits a command line into words the way the kernel does: whitespace separates, double
// quotes group (and are removed), no other escapes.
std::vector<std::string> split_cmdline(std::string_view cmdline);

BootConfig parse_cmdline(std::string_view cmdline);

// The kinds of value a key takes; each kind has one check and one warning wording.
enum class CmdlineKind {
    kFlag,      // bare key or 1/yes/true/on; 0/no/false/off
    kPath,      // an absolute path (init=)
    kSpec,      // a device spec: non-empty, <= 512 bytes, no control characters
    kSlotName,  // see valid_slot_name
    kSeconds,   // 0-3600
    kStep,      // a step name (cut to 64 bytes)
    kHex,       // an even number of hex digits, <= 128
    kReset,     // what a factory reset recreates: "persist" (the only choice today)
    kMarker,    // set by imageinit itself (imageinit.kexec): accepted, no BootConfig field
};

// One row of the parser's key table: NAME is the whole key, or for a per-slot key the prefix
// a slot name follows ("imageinit.slot." + "a"). For the table tests and the docs.
struct CmdlineKey {
    std::string name;
    bool per_slot;
    CmdlineKind kind;
};
std::vector<CmdlineKey> cmdline_keys();

// True for a slot name we accept: [a-z0-9_-]{1,32}. Slot names end up in file names.
bool valid_slot_name(std::string_view name);

}  // namespace imageinit::core
