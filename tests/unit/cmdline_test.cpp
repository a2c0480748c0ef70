// Kernel command line: defaults, every key, and hostile input (contract §3, issue 8's catalogue).
#include "core/cmdline.h"

#include <gtest/gtest.h>

using imageinit::core::BootConfig;
using imageinit::core::parse_cmdline;
using imageinit::core::split_cmdline;

TEST(Cmdline, EmptyGivesContractDefaults) {
    BootConfig c = parse_cmdline("");
    EXPECT_EQ(c.state_spec, "LABEL=STATE");
    ASSERT_TRUE(c.persist_spec.has_value());
    EXPECT_EQ(*c.persist_spec, "LABEL=PERSIST");
    EXPECT_FALSE(c.forced_slot.has_value());
    EXPECT_EQ(c.timeout_sec, 30);
    EXPECT_EQ(c.init, "/sbin/init");
    EXPECT_FALSE(c.debug);
    EXPECT_FALSE(c.shell);
    EXPECT_TRUE(c.warnings.empty());
}

TEST(Cmdline, EveryKeyIsParsed) {
    BootConfig c = parse_cmdline(
        "console=ttyS0 imageinit.state=PARTLABEL=state imageinit.persist=UUID=1234 "
        "imageinit.persist.required imageinit.slot.a=PARTLABEL=root-a imageinit.slot=b "
        "imageinit.timeout=7 imageinit.watchdog=15 imageinit.debug imageinit.shell "
        "imageinit.break=mount-image "
        "imageinit.roothash.a=00ff init=/lib/systemd/systemd");
    EXPECT_EQ(c.state_spec, "PARTLABEL=state");
    EXPECT_EQ(*c.persist_spec, "UUID=1234");
    EXPECT_TRUE(c.persist_required);
    EXPECT_EQ(c.slot_specs.at("a"), "PARTLABEL=root-a");
    EXPECT_EQ(*c.forced_slot, "b");
    EXPECT_EQ(c.timeout_sec, 7);
    EXPECT_EQ(c.watchdog_sec, 15);
    EXPECT_TRUE(c.debug);
    EXPECT_TRUE(c.shell);
    EXPECT_EQ(*c.break_step, "mount-image");
    EXPECT_EQ(c.roothash.at("a"), "00ff");
    EXPECT_EQ(c.init, "/lib/systemd/systemd");
    EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
}

TEST(Cmdline, WatchdogDefaultsToSixtySecondsAndZeroTurnsItOff) {
    EXPECT_EQ(parse_cmdline("").watchdog_sec, 60);
    BootConfig off = parse_cmdline("imageinit.watchdog=0");
    EXPECT_EQ(off.watchdog_sec, 0);
    EXPECT_TRUE(off.warnings.empty());
}

TEST(Cmdline, PersistNoneDisablesThePersistentPartition) {
    EXPECT_FALSE(parse_cmdline("imageinit.persist=none").persist_spec.has_value());
}

TEST(Cmdline, UnknownImageinitKeyWarnsAndIsNotFatal) {
    BootConfig c = parse_cmdline("imageinit.frobnicate=1 quiet");
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0], "unknown option 'imageinit.frobnicate' ignored");
}

TEST(Cmdline, ForeignKeysAreIgnoredSilently) {
    EXPECT_TRUE(parse_cmdline("root=/dev/sda1 ro quiet splash foo.bar=1").warnings.empty());
}

TEST(Cmdline, DuplicateKeyLastWinsWithWarning) {
    BootConfig c = parse_cmdline("imageinit.slot=a imageinit.slot=b");
    EXPECT_EQ(*c.forced_slot, "b");
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("more than once"), std::string::npos);
}

TEST(Cmdline, QuotedValuesKeepTheirSpaces) {
    BootConfig c = parse_cmdline("\"imageinit.state=LABEL=MY STATE\" x");
    EXPECT_EQ(c.state_spec, "LABEL=MY STATE");
    EXPECT_EQ(split_cmdline("a=\"b c\" d"), (std::vector<std::string>{"a=b c", "d"}));
}

TEST(Cmdline, UnterminatedQuoteRunsToTheEnd) {
    EXPECT_EQ(split_cmdline("a \"b c"), (std::vector<std::string>{"a", "b c"}));
}

TEST(Cmdline, BadValuesKeepDefaultsAndWarn) {
    struct Case {
        const char* cmdline;
        const char* warning_part;
    } cases[] = {
        {"imageinit.timeout=abc", "not a number of seconds"},
        {"imageinit.timeout=-1", "not a number of seconds"},
        {"imageinit.timeout=99999999999999999999", "not a number of seconds"},
        {"imageinit.timeout=5s", "not a number of seconds"},
        {"imageinit.watchdog=-5", "not a number of seconds"},
        {"imageinit.watchdog=3601", "not a number of seconds"},
        {"imageinit.watchdog=", "needs a value"},
        {"imageinit.slot=../etc", "not a valid slot name"},
        {"imageinit.slot=A", "not a valid slot name"},
        {"imageinit.slot=", "needs a value"},
        {"imageinit.state=", "needs a value"},
        {"imageinit.roothash.a=xyz", "not a hex root hash"},
        {"imageinit.roothash.a=abc", "not a hex root hash"},
        {"imageinit.slot.A/B=LABEL=x", "not a valid slot name"},
        {"init=sbin/init", "not an absolute path"},
    };
    for (const auto& tc : cases) {
        BootConfig c = parse_cmdline(tc.cmdline);
        ASSERT_EQ(c.warnings.size(), 1u) << tc.cmdline;
        EXPECT_NE(c.warnings[0].find(tc.warning_part), std::string::npos)
            << tc.cmdline << " -> " << c.warnings[0];
        EXPECT_EQ(c.timeout_sec, 30);
        EXPECT_EQ(c.watchdog_sec, 60);
        EXPECT_FALSE(c.forced_slot.has_value());
        EXPECT_EQ(c.state_spec, "LABEL=STATE");
        EXPECT_EQ(c.init, "/sbin/init");
    }
}

TEST(Cmdline, ControlCharactersInSpecAreRefused) {
    BootConfig c =
        parse_cmdline(std::string("imageinit.state=LABEL=A\x01"
                                  "B"));
    EXPECT_EQ(c.state_spec, "LABEL=STATE");
    EXPECT_EQ(c.warnings.size(), 1u);
}

TEST(Cmdline, WordsAfterDashesGoToTheImageInit) {
    BootConfig c = parse_cmdline("quiet -- single imageinit.slot=b");
    EXPECT_FALSE(c.forced_slot.has_value());
    EXPECT_EQ(c.init_args, (std::vector<std::string>{"single", "imageinit.slot=b"}));
}

TEST(Cmdline, FourKilobyteLineOfJunkIsHandled) {
    std::string line;
    while (line.size() < 4096) line += "imageinit.x" + std::to_string(line.size()) + "=\"q ";
    BootConfig c = parse_cmdline(line);
    EXPECT_FALSE(c.warnings.empty());
    EXPECT_EQ(c.state_spec, "LABEL=STATE");
}

TEST(Cmdline, ValidSlotNames) {
    using imageinit::core::valid_slot_name;
    EXPECT_TRUE(valid_slot_name("a"));
    EXPECT_TRUE(valid_slot_name("recovery"));
    EXPECT_TRUE(valid_slot_name("slot_2-x"));
    EXPECT_FALSE(valid_slot_name(""));
    EXPECT_FALSE(valid_slot_name(std::string(33, 'a')));
    EXPECT_FALSE(valid_slot_name("a/b"));
    EXPECT_FALSE(valid_slot_name(".."));
}

TEST(Cmdline, SwitchesTakeYesNoValuesAndZeroNeverStartsAShell) {
    EXPECT_FALSE(parse_cmdline("imageinit.shell=0").shell);
    EXPECT_FALSE(parse_cmdline("imageinit.shell=no").shell);
    EXPECT_TRUE(parse_cmdline("imageinit.shell=1").shell);
    EXPECT_TRUE(parse_cmdline("imageinit.debug=yes").debug);
    EXPECT_FALSE(parse_cmdline("imageinit.persist.required=false").persist_required);
    BootConfig c = parse_cmdline("imageinit.shell=maybe");
    EXPECT_FALSE(c.shell);
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("not a yes/no value"), std::string::npos);
    // The last word wins, as for every key.
    EXPECT_FALSE(parse_cmdline("imageinit.shell imageinit.shell=0").shell);
}
