// The depmod index parsers and modprobe-style resolution: tables of index text in, names out.
#include "core/module_index.h"

#include <gtest/gtest.h>

namespace imageinit::core {
namespace {

// A cut of what depmod writes for an initramfs with ext4 and the virtio disk driver.
constexpr const char* kDep =
    "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n"
    "kernel/lib/crc16.ko:\n"
    "kernel/fs/mbcache.ko:\n"
    "kernel/fs/jbd2/jbd2.ko:\n"
    "kernel/crypto/crc32c_generic.ko:\n"
    "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko "
    "kernel/drivers/virtio/virtio.ko\n"
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/usb/storage/usb-storage.ko.xz:\n"
    "kernel/drivers/usb/storage/uas.ko.xz: kernel/drivers/usb/storage/usb-storage.ko.xz\n";
constexpr const char* kAlias =
    "# Aliases extracted from modules themselves.\n"
    "alias fs-ext4 ext4\n"
    "alias ext3 ext4\n"
    "alias crypto-crc32c crc32c_generic\n"
    "alias crc32c crc32c_generic\n"
    "alias virtio:d00000002v* virtio_blk\n"
    "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n"
    "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip62in* uas\n"
    "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip*in* usb_storage\n"
    "alias fs-[a-c]-test uas\n"
    "alias fs-gone notcarried\n";
constexpr const char* kSoftdep = "softdep ext4 pre: crc32c\n";

ModuleIndex make_index() {
    ModuleIndex index;
    EXPECT_TRUE(parse_modules_dep(kDep, "modules.dep", index));
    EXPECT_TRUE(parse_modules_alias(kAlias, "modules.alias", index));
    EXPECT_TRUE(parse_modules_softdep(kSoftdep, "modules.softdep", index));
    parse_modules_builtin("kernel/fs/squashfs/squashfs.ko\nkernel/drivers/block/loop.ko\n", index);
    return index;
}

std::vector<std::string> names(const std::vector<LoadStep>& steps) {
    std::vector<std::string> out;
    for (const auto& s : steps) out.push_back(s.name + (s.optional ? "?" : ""));
    return out;
}

TEST(ModuleIndex, NamesAreNormalizedFromPathsAndSpellings) {
    EXPECT_EQ(module_name_from_path("kernel/drivers/usb/storage/usb-storage.ko.xz"), "usb_storage");
    EXPECT_EQ(module_name_from_path("ext4.ko"), "ext4");
    EXPECT_EQ(normalize_module_name("dm-mod"), "dm_mod");
    EXPECT_EQ(normalize_alias("fs-ext4"), "fs_ext4");
    EXPECT_EQ(normalize_alias("pci:v*d[0-9]-x"), "pci:v*d[0-9]_x");  // a range keeps its '-'
}

TEST(ModuleIndex, ParsesPathsAndDependencies) {
    ModuleIndex index = make_index();
    ASSERT_TRUE(index.modules.contains("ext4"));
    EXPECT_EQ(index.modules.at("ext4").path, "kernel/fs/ext4/ext4.ko");
    EXPECT_EQ(index.modules.at("ext4").deps,
              (std::vector<std::string>{"crc16", "mbcache", "jbd2"}));
    EXPECT_EQ(index.modules.at("uas").deps, (std::vector<std::string>{"usb_storage"}));
    EXPECT_EQ(index.aliases.size(), 10u);
    EXPECT_EQ(index.aliases[4].prefix, "virtio:d00000002v");
    EXPECT_EQ(index.softdeps.at("ext4").pre, (std::vector<std::string>{"crc32c"}));
    EXPECT_TRUE(index.builtin.contains("squashfs"));
}

TEST(ModuleIndex, MalformedLinesNameFileAndLine) {
    struct Case {
        const char* text;
        Result<void> (*parse)(std::string_view, const std::string&, ModuleIndex&);
        const char* message;
    } cases[] = {
        {"a.ko:\nkernel/b.ko kernel/c.ko\n", parse_modules_dep,
         "f:2: no ':' after the module path"},
        {"\n\nREADME: x.ko\n", parse_modules_dep, "f:3: 'README' is not a module file"},
        {"alias only-two\n", parse_modules_alias, "f:1: expected 'alias PATTERN MODULE'"},
        {"options ext4 x=1\n", parse_modules_alias, "f:1: expected 'alias PATTERN MODULE'"},
        {"softdep ext4\n", parse_modules_softdep,
         "f:1: expected 'softdep MODULE pre: ... post: ...'"},
    };
    for (const auto& c : cases) {
        ModuleIndex index;
        auto r = c.parse(c.text, "f", index);
        ASSERT_FALSE(r) << c.text;
        EXPECT_EQ(r.error().message, c.message);
    }
}

TEST(ModuleIndex, LookupPrefersNamesThenMatchesEveryAlias) {
    ModuleIndex index = make_index();
    struct Case {
        const char* query;
        std::vector<std::string> modules;
        bool builtin;
    } cases[] = {
        {"ext4", {"ext4"}, false},
        {"usb-storage", {"usb_storage"}, false},
        {"fs-ext4", {"ext4"}, false},
        {"fs_ext4", {"ext4"}, false},
        {"ext3", {"ext4"}, false},
        {"squashfs", {}, true},
        {"fs-erofs", {}, false},
        {"virtio:d00000002v00001AF4", {"virtio_blk"}, false},
        {"virtio:d00000001v00001AF4", {}, false},
        // Two patterns name usb_storage: listed once. uas matches too: modprobe loads both.
        {"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", {"usb_storage"}, false},
        {"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip62in00", {"uas", "usb_storage"}, false},
        {"fs-b-test", {"uas"}, false},
        {"fs-d-test", {}, false},
        {"fs-gone", {}, false},  // an alias of a module the index does not carry
    };
    for (const auto& c : cases) {
        ModuleLookup found = lookup_module(index, c.query);
        EXPECT_EQ(found.modules, c.modules) << c.query;
        EXPECT_EQ(found.builtin, c.builtin) << c.query;
    }
}

TEST(ModuleIndex, BlacklistAppliesToAliasesOnly) {
    ModuleIndex index = make_index();
    std::set<std::string> blacklist{"uas", "ext4"};
    EXPECT_EQ(lookup_module(index, "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip62in00", blacklist)
                  .modules,
              (std::vector<std::string>{"usb_storage"}));
    EXPECT_EQ(lookup_module(index, "ext4", blacklist).modules, (std::vector<std::string>{"ext4"}));
    EXPECT_TRUE(lookup_module(index, "fs-ext4", blacklist).modules.empty());
}

TEST(ModuleIndex, LoadOrderPutsSoftDepsAndDependenciesFirst) {
    ModuleIndex index = make_index();
    EXPECT_EQ(names(load_order(index, "ext4")),
              (std::vector<std::string>{"crc32c_generic?", "crc16", "mbcache", "jbd2", "ext4"}));
    // virtio_blk lists virtio_ring before virtio; virtio itself needs virtio_ring first.
    EXPECT_EQ(names(load_order(index, "virtio_blk")),
              (std::vector<std::string>{"virtio_ring", "virtio", "virtio_blk"}));
    EXPECT_EQ(load_order(index, "uas").front().path,
              "kernel/drivers/usb/storage/usb-storage.ko.xz");
    EXPECT_TRUE(load_order(index, "squashfs").empty());
    EXPECT_TRUE(load_order(index, "nothere").empty());
}

TEST(ModuleIndex, LoadOrderSkipsLoadedModulesButNotTheirDependencies) {
    ModuleIndex index = make_index();
    EXPECT_EQ(names(load_order(index, "ext4", {"jbd2", "crc32c_generic"})),
              (std::vector<std::string>{"crc16", "mbcache", "ext4"}));
    EXPECT_TRUE(
        load_order(index, "ext4", {"ext4", "crc16", "mbcache", "jbd2", "crc32c_generic"}).empty());
}

// A real kernel's modules.softdep (Debian 6.1) has "softdep cifs gcm": the module declares its soft
// dependencies without "pre:". kmod ignores such names; rejecting the file used to fail the whole
// load-modules step of a dracut initramfs that carries cifs.
TEST(ModuleIndex, SoftDependencyWithoutPreOrPostIsIgnoredAsKmodDoes) {
    ModuleIndex index;
    ASSERT_TRUE(parse_modules_softdep(
        "# Soft dependencies extracted from modules themselves.\nsoftdep cifs gcm\n"
        "softdep cifs ccm\nsoftdep ext4 crc32c pre: crc16\n",
        "modules.softdep", index));
    EXPECT_TRUE(index.softdeps.at("cifs").pre.empty());
    EXPECT_TRUE(index.softdeps.at("cifs").post.empty());
    EXPECT_EQ(index.softdeps.at("ext4").pre, (std::vector<std::string>{"crc16"}));
}

TEST(ModuleIndex, SoftDependencyCyclesEnd) {
    ModuleIndex index;
    ASSERT_TRUE(parse_modules_dep("a.ko:\nb.ko:\n", "d", index));
    ASSERT_TRUE(parse_modules_softdep("softdep a pre: b post: a\nsoftdep b pre: a\n", "s", index));
    EXPECT_EQ(names(load_order(index, "a")), (std::vector<std::string>{"b?", "a"}));
}

TEST(ModuleIndex, ModuleListKeepsNamesWithTheirLineNumbers) {
    auto list = parse_module_list("# storage\n\n  loop  \n#x\r\next4\t# the state fs\n");
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].line, 3);
    EXPECT_EQ(list[0].name, "loop");
    EXPECT_EQ(list[1].line, 5);
    EXPECT_EQ(list[1].name, "ext4");
    EXPECT_TRUE(parse_module_list("").empty());
}

TEST(ModuleIndex, LoadedModulesAreTheFirstWordOfProcModules) {
    EXPECT_EQ(parse_loaded_modules("ext4 1007616 1 - Live 0x0000000000000000\n"
                                   "jbd2 196608 1 ext4, Live 0x0000000000000000\n\n"),
              (std::set<std::string>{"ext4", "jbd2"}));
    EXPECT_TRUE(parse_loaded_modules("").empty());
}

TEST(ModuleIndex, CmdlineGivesOptionsPerModuleAndTheBlacklist) {
    ModuleCmdline c = parse_module_cmdline(
        "console=ttyS0 nvme-core.default_ps_max_latency_us=0 loop.max_loop=4 loop.debug "
        "modprobe.blacklist=uas,dm-mod quiet .x=1 a.=2 dyndbg=\"file x +p\" "
        "mod.text=\"two words\"");
    EXPECT_EQ(c.options.at("nvme_core"), "default_ps_max_latency_us=0");
    EXPECT_EQ(c.options.at("loop"), "max_loop=4 debug");
    EXPECT_EQ(c.options.at("mod"), "text=\"two words\"");
    EXPECT_EQ(c.options.size(), 3u);
    EXPECT_EQ(c.blacklist, (std::set<std::string>{"uas", "dm_mod"}));
}

}  // namespace
}  // namespace imageinit::core
