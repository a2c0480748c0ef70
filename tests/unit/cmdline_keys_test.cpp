// The command line's key table, row by row: for every key a value it takes (and where it lands)
// and a value it refuses (the default stays, one warning names the key). A key added to the
// table without a row here fails EveryKeyOfTheTableHasATableRow.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "core/cmdline.h"

namespace imageinit::core {
namespace {

struct KeyRow {
    std::string key;   // as in cmdline_keys(): a per-slot key ends in '.'
    std::string good;  // a word the key takes...
    std::function<bool(const BootConfig&)> took;  // ...and the proof it landed
    std::string bad;                              // a word it refuses (empty: refuses nothing)
    std::string warning;                          // part of the warning for BAD
};

const BootConfig kDefaults;

const std::vector<KeyRow>& rows() {
    static const std::vector<KeyRow> kRows = {
        {"init", "init=/usr/lib/systemd/systemd",
         [](const BootConfig& c) { return c.init == "/usr/lib/systemd/systemd"; }, "init=bin/sh",
         "init='bin/sh' is not an absolute path"},
        {"imageinit.state", "imageinit.state=PARTLABEL=st",
         [](const BootConfig& c) { return c.state_spec == "PARTLABEL=st"; },
         "imageinit.state=", "imageinit.state needs a value (a device spec)"},
        {"imageinit.persist", "imageinit.persist=none",
         [](const BootConfig& c) { return !c.persist_spec.has_value(); },
         std::string("imageinit.persist=LABEL=\x7f"), "is not a device spec"},
        {"imageinit.persist.required", "imageinit.persist.required=yes",
         [](const BootConfig& c) { return c.persist_required; }, "imageinit.persist.required=2",
         "is not a yes/no value"},
        {"imageinit.slot", "imageinit.slot=recovery",
         [](const BootConfig& c) { return c.forced_slot == "recovery"; }, "imageinit.slot=B",
         "imageinit.slot='B' is not a valid slot name"},
        {"imageinit.slot.", "imageinit.slot.b=PARTLABEL=root-b",
         [](const BootConfig& c) { return c.slot_specs.at("b") == "PARTLABEL=root-b"; },
         "imageinit.slot.b/c=LABEL=x", "imageinit.slot.b/c: 'b/c' is not a valid slot name"},
        {"imageinit.timeout", "imageinit.timeout=0",
         [](const BootConfig& c) { return c.timeout_sec == 0; }, "imageinit.timeout=3601",
         "is not a number of seconds (0-3600); keeping 30"},
        {"imageinit.watchdog", "imageinit.watchdog=0",
         [](const BootConfig& c) { return c.watchdog_sec == 0; }, "imageinit.watchdog=-5",
         "is not a number of seconds (0-3600); keeping 60"},
        {"imageinit.debug", "imageinit.debug", [](const BootConfig& c) { return c.debug; },
         "imageinit.debug=verbose", "is not a yes/no value"},
        {"imageinit.shell", "imageinit.shell=on", [](const BootConfig& c) { return c.shell; },
         "imageinit.shell=please", "is not a yes/no value"},
        {"imageinit.break", "imageinit.break=" + std::string(80, 's'),
         [](const BootConfig& c) { return c.break_step == std::string(64, 's'); },
         "imageinit.break", "imageinit.break needs a value (a step name)"},
        {"imageinit.roothash.", "imageinit.roothash.a=00FFab",
         [](const BootConfig& c) { return c.roothash.at("a") == "00FFab"; },
         "imageinit.roothash.a=" + std::string(130, 'a'), "is not a hex root hash"},
        {"imageinit.reset", "imageinit.reset=persist",
         [](const BootConfig& c) { return c.reset_persist; }, "imageinit.reset=state",
         "imageinit.reset='state' is not something to reset (persist)"},
        // Read from the raw line by KernelCmdline; the parser only has to accept it quietly.
        {"imageinit.kexec", "imageinit.kexec=b",
         [](const BootConfig& c) { return c.warnings.empty(); }, "", ""},
    };
    return kRows;
}

TEST(CmdlineKeys, EveryKeyOfTheTableHasATableRow) {
    std::set<std::string> tested;
    for (const auto& r : rows()) tested.insert(r.key);
    for (const auto& k : cmdline_keys()) EXPECT_TRUE(tested.count(k.name)) << k.name;
    EXPECT_EQ(tested.size(), cmdline_keys().size());
}

TEST(CmdlineKeys, EveryKeyTakesItsValueWithoutAWarning) {
    for (const auto& r : rows()) {
        BootConfig c = parse_cmdline(r.good);
        EXPECT_TRUE(r.took(c)) << r.good;
        EXPECT_TRUE(c.warnings.empty()) << r.good << " -> " << c.warnings.front();
    }
}

TEST(CmdlineKeys, EveryKeyRefusesABadValueKeepsTheDefaultAndWarnsOnce) {
    for (const auto& r : rows()) {
        if (r.bad.empty()) continue;
        BootConfig c = parse_cmdline(r.bad);
        ASSERT_EQ(c.warnings.size(), 1u) << r.bad;
        EXPECT_NE(c.warnings[0].find(r.warning), std::string::npos)
            << r.bad << " -> " << c.warnings[0];
        EXPECT_EQ(c.init, kDefaults.init) << r.bad;
        EXPECT_EQ(c.state_spec, kDefaults.state_spec) << r.bad;
        EXPECT_EQ(c.persist_spec, kDefaults.persist_spec) << r.bad;
        EXPECT_EQ(c.persist_required, kDefaults.persist_required) << r.bad;
        EXPECT_EQ(c.forced_slot, kDefaults.forced_slot) << r.bad;
        EXPECT_TRUE(c.slot_specs.empty()) << r.bad;
        EXPECT_EQ(c.timeout_sec, kDefaults.timeout_sec) << r.bad;
        EXPECT_EQ(c.watchdog_sec, kDefaults.watchdog_sec) << r.bad;
        EXPECT_EQ(c.debug, kDefaults.debug) << r.bad;
        EXPECT_EQ(c.shell, kDefaults.shell) << r.bad;
        EXPECT_EQ(c.break_step, kDefaults.break_step) << r.bad;
        EXPECT_TRUE(c.roothash.empty()) << r.bad;
    }
}

// "imageinit.slot" is its own key; "imageinit.slot." needs a slot name after the dot.
TEST(CmdlineKeys, PerSlotKeyWithoutASlotNameIsRefused) {
    BootConfig c = parse_cmdline("imageinit.slot=a imageinit.slot.=LABEL=x");
    EXPECT_EQ(c.forced_slot, "a");
    EXPECT_TRUE(c.slot_specs.empty());
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0], "imageinit.slot.: '' is not a valid slot name; ignored");
}

TEST(CmdlineKeys, WatchdogDefaultsToSixtySeconds) {
    EXPECT_EQ(parse_cmdline("").watchdog_sec, 60);
    EXPECT_EQ(parse_cmdline("imageinit.watchdog=3600").watchdog_sec, 3600);
}

}  // namespace
}  // namespace imageinit::core
