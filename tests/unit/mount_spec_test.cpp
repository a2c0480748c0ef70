// Unit tests for core/mount_spec: the five kinds of entries, every validation error with its
// exact "FILE:LINE: what is wrong" text, odd characters, and a spec of 100,000 entries.
#include "core/mount_spec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace imageinit::core {
namespace {

constexpr std::string_view kFile = "/etc/imageinit/fstab";

MountSpec parse_ok(std::string_view text) {
    auto r = parse_mount_spec(text, kFile);
    EXPECT_TRUE(r.has_value()) << text << "\n-> " << (r ? "" : r.error().message);
    return r ? std::move(*r) : MountSpec{};
}

std::string parse_error(std::string_view text) {
    auto r = parse_mount_spec(text, kFile);
    if (r) return "(parsed)";
    EXPECT_EQ(r.error().code, 0);
    return r.error().message;
}

TEST(MountSpec, ClassifiesEachKindOfEntry) {
    struct Case {
        std::string line;
        EntryKind kind;
        std::string target, fstype, options, persist_path;
        PersistScope scope;
        bool nofail;
    };
    const Case cases[] = {
        {"tmpfs /tmp tmpfs mode=1777,size=25%", EntryKind::kTmpfs, "/tmp", "tmpfs",
         "mode=1777,size=25%", "", PersistScope::kShared, false},
        {"none /scratch tmpfs", EntryKind::kTmpfs, "/scratch", "tmpfs", "", "",
         PersistScope::kShared, false},
        {"overlay /etc overlay x-imageinit.upper=tmpfs", EntryKind::kTempOverlay, "/etc", "overlay",
         "", "", PersistScope::kShared, false},
        {"persist:/etc/ssh /etc/ssh none bind", EntryKind::kPersistBind, "/etc/ssh", "none", "bind",
         "/etc/ssh", PersistScope::kShared, false},
        {"persist:/cfg /etc/app none bind,x-imageinit.scope=slot,ro", EntryKind::kPersistBind,
         "/etc/app", "none", "bind,ro", "/cfg", PersistScope::kSlot, false},
        {"persist:/var /var overlay x-imageinit.upper=persist", EntryKind::kPersistOverlay, "/var",
         "overlay", "", "/var", PersistScope::kShared, false},
        {"persist:/var /var overlay x-imageinit.upper=persist,x-imageinit.scope=shared",
         EntryKind::kPersistOverlay, "/var", "overlay", "", "/var", PersistScope::kShared, false},
        {"LABEL=DATA /data ext4 nofail", EntryKind::kDevice, "/data", "ext4", "", "",
         PersistScope::kShared, true},
        {"UUID=0a1b /data ext4 noatime 0 2", EntryKind::kDevice, "/data", "ext4", "noatime", "",
         PersistScope::kShared, false},
        {"PARTLABEL=logs /var/log xfs defaults", EntryKind::kDevice, "/var/log", "xfs", "defaults",
         "", PersistScope::kShared, false},
        {"PARTUUID=1234-01 /srv ext4 ro", EntryKind::kDevice, "/srv", "ext4", "ro", "",
         PersistScope::kShared, false},
        {"/dev/sda3 /mnt/x vfat x-systemd.automount", EntryKind::kDevice, "/mnt/x", "vfat",
         "x-systemd.automount", "", PersistScope::kShared, false},
    };
    for (const auto& c : cases) {
        MountSpec spec = parse_ok(c.line);
        ASSERT_EQ(spec.entries.size(), 1u) << c.line;
        const SpecEntry& e = spec.entries[0];
        EXPECT_EQ(e.kind, c.kind) << c.line;
        EXPECT_EQ(e.target, c.target) << c.line;
        EXPECT_EQ(e.fstype, c.fstype) << c.line;
        EXPECT_EQ(e.options, c.options) << c.line;
        EXPECT_EQ(e.persist_path, c.persist_path) << c.line;
        EXPECT_EQ(e.scope, c.scope) << c.line;
        EXPECT_EQ(e.nofail, c.nofail) << c.line;
        EXPECT_EQ(e.line, 1);
        EXPECT_EQ(e.file, kFile);
    }
}

TEST(MountSpec, BlankLinesAndCommentsAreSkippedAndLinesCountedFromOne) {
    MountSpec spec = parse_ok(
        "# the spec\n"
        "\n"
        "   \t\n"
        "  # indented comment\n"
        "tmpfs /tmp tmpfs mode=1777\n"
        "\n"
        "\toverlay\t/etc\toverlay\tx-imageinit.upper=tmpfs");  // no final newline
    ASSERT_EQ(spec.entries.size(), 2u);
    EXPECT_EQ(spec.entries[0].line, 5);
    EXPECT_EQ(spec.entries[1].line, 7);
    EXPECT_FALSE(spec.is_default);
    EXPECT_EQ(spec.file, kFile);
}

TEST(MountSpec, EmptySpecHasNoEntries) {
    EXPECT_TRUE(parse_ok("").entries.empty());
    EXPECT_TRUE(parse_ok("# nothing\n\n").entries.empty());
}

TEST(MountSpec, DumpAndPassFieldsAreIgnored) {
    MountSpec spec = parse_ok("LABEL=DATA /data ext4 defaults 1 2\n");
    ASSERT_EQ(spec.entries.size(), 1u);
    EXPECT_EQ(spec.entries[0].options, "defaults");
}

TEST(MountSpec, TargetsAreNormalised) {
    const std::pair<std::string, std::string> cases[] = {
        {"tmpfs //tmp// tmpfs", "/tmp"},
        {"tmpfs /var/./tmp/ tmpfs", "/var/tmp"},
        {"tmpfs /a\\040b tmpfs", "/a b"},   // fstab escape for a space
        {"tmpfs /a,b:c tmpfs", "/a,b:c"},   // ',' and ':' never reach mount data
        {"tmpfs /a\\134b tmpfs", "/a\\b"},  // escaped backslash
        {"tmpfs /caf\xc3\xa9 tmpfs", "/caf\xc3\xa9"},
    };
    for (const auto& [line, target] : cases) {
        MountSpec spec = parse_ok(line);
        ASSERT_EQ(spec.entries.size(), 1u) << line;
        EXPECT_EQ(spec.entries[0].target, target) << line;
    }
}

struct ErrorCase {
    std::string text;
    std::string message;
};

void expect_errors(const std::vector<ErrorCase>& cases) {
    for (const auto& c : cases) EXPECT_EQ(parse_error(c.text), c.message) << c.text;
}

TEST(MountSpec, MalformedLinesAreRejectedWithFileAndLine) {
    expect_errors({
        {"tmpfs /tmp\n",
         "/etc/imageinit/fstab:1: cannot parse line: expected "
         "'SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]'"},
        {"# c\ntmpfs\n",
         "/etc/imageinit/fstab:2: cannot parse line: expected "
         "'SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]'"},
        {"tmpfs /tmp tmpfs a x y\n",
         "/etc/imageinit/fstab:1: cannot parse line: expected "
         "'SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]'"},
        {"tmpfs /tmp tmpfs defaults # note\n",
         "/etc/imageinit/fstab:1: cannot parse line: expected "
         "'SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]'"},
        // libmount would read this as a mountinfo line were its format not pinned to fstab.
        {"12 34 0:1 / /x rw - tmpfs tmpfs rw\n",
         "/etc/imageinit/fstab:1: cannot parse line: expected "
         "'SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]'"},
        {"tmpfs /tmp tmpfs defaults\r\n",
         "/etc/imageinit/fstab:1: line contains a control character '\\x0d'"},
        {std::string("tmpfs /t\0mp tmpfs\n", 17),
         "/etc/imageinit/fstab:1: line contains a control character '\\x00'"},
    });
}

TEST(MountSpec, OddTargetsAreRejected) {
    const std::string long_name(256, 'n');
    std::string too_long;
    for (int i = 0; i < 17; ++i) too_long += "/" + std::string(250, 'a');
    expect_errors({
        {"tmpfs tmp tmpfs\n", "/etc/imageinit/fstab:1: mount point: path 'tmp' is not absolute"},
        {"tmpfs /var/../etc tmpfs\n",
         "/etc/imageinit/fstab:1: mount point: path '/var/../etc' contains a '..' component"},
        {"tmpfs /a\\011b tmpfs\n",
         "/etc/imageinit/fstab:1: mount point: path '/a\\x09b' contains a control character"},
        {"tmpfs /a\\012b tmpfs\n",
         "/etc/imageinit/fstab:1: mount point: path '/a\\x0ab' contains a control character"},
        {"tmpfs /caf\xe9 tmpfs\n",
         "/etc/imageinit/fstab:1: mount point: path '/caf\\xe9' is not valid UTF-8"},
        {"tmpfs /" + long_name + " tmpfs\n",
         "/etc/imageinit/fstab:1: mount point: path component '" + long_name.substr(0, 200) +
             "'... is longer than 255 bytes"},
        {"tmpfs " + too_long + " tmpfs\n", "/etc/imageinit/fstab:1: mount point: path '" +
                                               too_long.substr(0, 200) +
                                               "'... is longer than 4095 bytes"},
    });
}

TEST(MountSpec, TargetsAtOrUnderRootProcSysDevAreRejected) {
    expect_errors({
        {"tmpfs / tmpfs\n",
         "/etc/imageinit/fstab:1: mount point '/' is not allowed: it is the image itself"},
        {"tmpfs //./ tmpfs\n",
         "/etc/imageinit/fstab:1: mount point '/' is not allowed: it is the image itself"},
        {"tmpfs /proc tmpfs\n",
         "/etc/imageinit/fstab:1: mount point '/proc' is not allowed: "
         "nothing is mounted on or under '/proc'"},
        {"tmpfs /sys/fs/x tmpfs\n",
         "/etc/imageinit/fstab:1: mount point '/sys/fs/x' is not "
         "allowed: nothing is mounted on or under '/sys'"},
        {"tmpfs /dev/shm tmpfs\n",
         "/etc/imageinit/fstab:1: mount point '/dev/shm' is not "
         "allowed: nothing is mounted on or under '/dev'"},
        {"persist:/dev /dev//pts/ none bind\n",
         "/etc/imageinit/fstab:1: mount point '/dev/pts' is not allowed: nothing is mounted on "
         "or under '/dev'"},
    });
}

TEST(MountSpec, DuplicateTargetsAreRejectedAtTheSecondLine) {
    expect_errors({
        {"tmpfs /tmp tmpfs\n# x\ntmpfs /tmp/ tmpfs\n",
         "/etc/imageinit/fstab:3: duplicate mount point '/tmp' (first on line 1)"},
        {"overlay /etc overlay x-imageinit.upper=tmpfs\npersist:/etc /etc none bind\n",
         "/etc/imageinit/fstab:2: duplicate mount point '/etc' (first on line 1)"},
    });
}

TEST(MountSpec, PersistBindWithoutBindOptionIsRejected) {
    expect_errors({
        {"persist:/etc/ssh /etc/ssh none defaults\n",
         "/etc/imageinit/fstab:1: a 'persist:' source needs option 'bind' (fstype 'none') or "
         "fstype 'overlay' with 'x-imageinit.upper=persist'"},
        {"persist:/x /x tmpfs defaults\n",
         "/etc/imageinit/fstab:1: a 'persist:' source needs option 'bind' (fstype 'none') or "
         "fstype 'overlay' with 'x-imageinit.upper=persist'"},
    });
}

TEST(MountSpec, InconsistentKindsAreRejected) {
    expect_errors({
        {"overlay /etc overlay defaults\n",
         "/etc/imageinit/fstab:1: overlay needs option 'x-imageinit.upper=tmpfs' or "
         "'x-imageinit.upper=persist'"},
        {"overlay /var overlay x-imageinit.upper=persist\n",
         "/etc/imageinit/fstab:1: option 'x-imageinit.upper=persist' needs a 'persist:/PATH' "
         "source"},
        {"persist:/var /var overlay x-imageinit.upper=tmpfs\n",
         "/etc/imageinit/fstab:1: a 'persist:' source needs 'x-imageinit.upper=persist', not "
         "'x-imageinit.upper=tmpfs'"},
        {"persist:/var /var overlay\n",
         "/etc/imageinit/fstab:1: a 'persist:' source needs option 'bind' (fstype 'none') or "
         "fstype 'overlay' with 'x-imageinit.upper=persist'"},
        {"/srv /srv none bind\n",
         "/etc/imageinit/fstab:1: option 'bind' needs a 'persist:/PATH' source"},
        {"persist:/etc/ssh /etc/ssh ext4 bind\n",
         "/etc/imageinit/fstab:1: a persistent bind needs fstype 'none', not 'ext4'"},
        {"tmpfs /tmp tmpfs x-imageinit.upper=tmpfs\n",
         "/etc/imageinit/fstab:1: option 'x-imageinit.upper' is only valid with fstype 'overlay'"},
        {"overlay /etc overlay x-imageinit.upper=disk\n",
         "/etc/imageinit/fstab:1: invalid value 'disk' for option 'x-imageinit.upper': "
         "expected 'tmpfs' or 'persist'"},
        {"proc /x proc defaults\n",
         "/etc/imageinit/fstab:1: unsupported source 'proc': expected LABEL=, UUID=, PARTLABEL=, "
         "PARTUUID=, a /dev/ path or 'persist:/PATH'"},
        {"LABEL= /data ext4\n", "/etc/imageinit/fstab:1: source 'LABEL=' has an empty value"},
        {"LABEL=D /data none defaults\n",
         "/etc/imageinit/fstab:1: fstype 'none' needs option 'bind'"},
        {"/dev/vda2 /swap swap sw\n",
         "/etc/imageinit/fstab:1: fstype 'swap' is not supported: the spec holds mounts"},
        {"/dev/../etc/x /data ext4\n",
         "/etc/imageinit/fstab:1: device path '/dev/../etc/x' contains a '..' component"},
    });
}

TEST(MountSpec, PersistentPathsAreValidated) {
    expect_errors({
        {"persist:var /var overlay x-imageinit.upper=persist\n",
         "/etc/imageinit/fstab:1: persistent path: path 'var' is not absolute"},
        {"persist:/a/../b /b none bind\n",
         "/etc/imageinit/fstab:1: persistent path: path '/a/../b' contains a '..' component"},
        {"persist: /b none bind\n", "/etc/imageinit/fstab:1: persistent path: path is empty"},
        {"persist:/ /b none bind\n",
         "/etc/imageinit/fstab:1: persistent path '/' is not allowed: name a directory below it"},
        {"persist:/var /var overlay x-imageinit.upper=persist\n"
         "persist:/var/lib/x /data none bind\n",
         "/etc/imageinit/fstab:2: persistent path '/var/lib/x' overlaps '/var' of line 1 "
         "(same scope)"},
        {"persist:/a/b /b none bind\npersist:/a /a none bind\n",
         "/etc/imageinit/fstab:2: persistent path '/a' overlaps '/a/b' of line 1 (same scope)"},
        {"persist:/a /a none bind\npersist:/a /b none bind\n",
         "/etc/imageinit/fstab:2: persistent path '/a' overlaps '/a' of line 1 (same scope)"},
    });
    // Different scopes live in different directories, and "/var2" is not under "/var".
    EXPECT_EQ(parse_ok("persist:/var /var overlay x-imageinit.upper=persist\n"
                       "persist:/var /etc/var none bind,x-imageinit.scope=slot\n"
                       "persist:/var2 /var2 none bind\n"
                       "persist:/var-x /var-x none bind\n")
                  .entries.size(),
              4u);
}

TEST(MountSpec, SuidAndDevAreRefusedOnPersistentMountsOnly) {
    expect_errors({
        {"persist:/etc/ssh /etc/ssh none bind,suid\n",
         "/etc/imageinit/fstab:1: option 'suid' is not allowed on a persistent mount"},
        {"persist:/var /var overlay x-imageinit.upper=persist,dev\n",
         "/etc/imageinit/fstab:1: option 'dev' is not allowed on a persistent mount"},
    });
    EXPECT_EQ(parse_ok("tmpfs /tmp tmpfs suid,dev\n").entries.size(), 1u);
    EXPECT_EQ(parse_ok("overlay /usr overlay x-imageinit.upper=tmpfs,suid\n").entries.size(), 1u);
}

TEST(MountSpec, ImageinitOptionsAreCheckedAndStripped) {
    expect_errors({
        {"overlay /etc overlay x-imageinit.upper=tmpfs,x-imageinit.colour=red\n",
         "/etc/imageinit/fstab:1: unknown option 'x-imageinit.colour'"},
        {"overlay /etc overlay x-imageinit.upper=tmpfs,x-imageinit.upper=tmpfs\n",
         "/etc/imageinit/fstab:1: option 'x-imageinit.upper' given twice"},
        {"persist:/a /a none bind,x-imageinit.scope=global\n",
         "/etc/imageinit/fstab:1: invalid value 'global' for option 'x-imageinit.scope': "
         "expected 'shared' or 'slot'"},
        {"tmpfs /tmp tmpfs x-imageinit.scope=slot\n",
         "/etc/imageinit/fstab:1: option 'x-imageinit.scope' is only valid on a persistent "
         "entry"},
        {"tmpfs /tmp tmpfs nofail\n",
         "/etc/imageinit/fstab:1: option 'nofail' is only valid on a device entry"},
    });
    MountSpec spec = parse_ok("LABEL=D /d ext4 noatime,nofail,x-systemd.device-timeout=5\n");
    EXPECT_EQ(spec.entries[0].options, "noatime,x-systemd.device-timeout=5");
    EXPECT_TRUE(spec.entries[0].nofail);
}

TEST(MountSpec, OptionsThatWouldCarryPathsOrChangeMountSemanticsAreRejected) {
    expect_errors({
        {"overlay /etc overlay x-imageinit.upper=tmpfs,upperdir=/x\n",
         "/etc/imageinit/fstab:1: option 'upperdir' is not allowed: imageinit chooses the "
         "overlay's directories"},
        {"overlay /etc overlay x-imageinit.upper=tmpfs,lowerdir=/a:/b\n",
         "/etc/imageinit/fstab:1: option 'lowerdir' is not allowed: imageinit chooses the "
         "overlay's directories"},
        {"LABEL=D /d ext4 journal_path=/dev/sdb1\n",
         "/etc/imageinit/fstab:1: option 'journal_path' carries a path: mount data never holds "
         "paths"},
        {"persist:/a /a none rbind\n", "/etc/imageinit/fstab:1: option 'rbind' is not supported"},
        {"tmpfs /tmp tmpfs shared\n", "/etc/imageinit/fstab:1: option 'shared' is not supported"},
        {"LABEL=D /d ext4 remount\n", "/etc/imageinit/fstab:1: option 'remount' is not supported"},
    });
}

TEST(MountSpec, FirstErrorInFileOrderIsReported) {
    EXPECT_EQ(parse_error("tmpfs /tmp tmpfs\n"
                          "tmpfs /proc tmpfs\n"
                          "tmpfs /tmp tmpfs\n"),
              "/etc/imageinit/fstab:2: mount point '/proc' is not allowed: nothing is mounted on "
              "or under '/proc'");
}

TEST(MountSpec, QuotedOptionValuesSurvive) {
    MountSpec spec = parse_ok("LABEL=D /d ext4 context=\"system_u:object_r:t:s0,c1\",noatime\n");
    EXPECT_EQ(spec.entries[0].options, "context=\"system_u:object_r:t:s0,c1\",noatime");
}

TEST(MountSpec, HundredThousandEntriesParseQuickly) {
    std::string text;
    text.reserve(100000 * 48);
    for (int i = 0; i < 100000; ++i) {
        text += "tmpfs /srv/d" + std::to_string(i) + " tmpfs mode=0755,size=1M\n";
    }
    auto start = std::chrono::steady_clock::now();
    MountSpec spec = parse_ok(text);
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(spec.entries.size(), 100000u);
    EXPECT_EQ(spec.entries.back().line, 100000);
    // Catches quadratic behaviour (minutes at this size), not a slow machine: an optimised
    // build on an idle core takes about 0.2 s.
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 10000);

    text += "tmpfs /srv/d5 tmpfs\n";
    EXPECT_EQ(parse_error(text),
              "/etc/imageinit/fstab:100001: duplicate mount point '/srv/d5' (first on line 6)");
}

TEST(MountSpec, DefaultSpecParsesAndIsMarked) {
    MountSpec spec = default_mount_spec();
    EXPECT_TRUE(spec.is_default);
    ASSERT_EQ(spec.entries.size(), 3u);
    EXPECT_EQ(spec.entries[0].kind, EntryKind::kTmpfs);
    EXPECT_EQ(spec.entries[0].target, "/tmp");
    EXPECT_EQ(spec.entries[0].options, "mode=1777,nosuid,nodev");
    EXPECT_EQ(spec.entries[1].kind, EntryKind::kTempOverlay);
    EXPECT_EQ(spec.entries[1].target, "/etc");
    EXPECT_EQ(spec.entries[2].kind, EntryKind::kPersistOverlay);
    EXPECT_EQ(spec.entries[2].target, "/var");
    EXPECT_EQ(spec.entries[2].persist_path, "/var");
    EXPECT_TRUE(parse_mount_spec(kDefaultSpecText, "x").has_value());
}

TEST(MountSpec, EntryKindNamesAreReadable) {
    EXPECT_STREQ(entry_kind_name(EntryKind::kTmpfs), "tmpfs");
    EXPECT_STREQ(entry_kind_name(EntryKind::kTempOverlay), "temporary overlay");
    EXPECT_STREQ(entry_kind_name(EntryKind::kPersistBind), "persistent bind");
    EXPECT_STREQ(entry_kind_name(EntryKind::kPersistOverlay), "persistent overlay");
    EXPECT_STREQ(entry_kind_name(EntryKind::kDevice), "device");
}

}  // namespace
}  // namespace imageinit::core
