// boot::ModuleLoader on a module folder made here: index parsing from files, the errors a boot
// would log, and finit_module(2) refusing a file that is not a module (nothing is ever inserted
// into this machine's kernel; the QEMU tier loads real modules at every boot).
#include "boot/module_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "os/files.h"

namespace imageinit::boot {
namespace {

class ModuleLoaderTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/imageinit-modules.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::filesystem::create_directories(dir_ + "/kernel/fs");
        ASSERT_TRUE(os::write_file(dir_ + "/kernel/fs/notamodule.ko", "not an ELF file\n"));
        ASSERT_TRUE(os::write_file(dir_ + "/modules.dep", "kernel/fs/notamodule.ko:\n"));
        ASSERT_TRUE(os::write_file(dir_ + "/modules.alias", "alias fs-nota notamodule\n"));
        ASSERT_TRUE(os::write_file(dir_ + "/modules.builtin", "kernel/fs/ext9/ext9.ko\n"));
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string dir_;
};

TEST_F(ModuleLoaderTest, UnknownModaliasOrBuiltinIsNothingToLoadButUnknownNameIsAnError) {
    auto loader = ModuleLoader::open(dir_, {});
    ASSERT_TRUE(loader) << loader.error().message;
    auto alias = loader->load("pci:v0000FFFFd0000FFFFsv00000000sd00000000bc00sc00i00");
    ASSERT_TRUE(alias) << alias.error().message;
    EXPECT_EQ(*alias, 0);
    auto builtin = loader->load("ext9");
    ASSERT_TRUE(builtin) << builtin.error().message;
    EXPECT_EQ(*builtin, 0);
    auto name = loader->load("imageinit_no_such_module");
    ASSERT_FALSE(name);
    EXPECT_EQ(name.error().message,
              "module 'imageinit_no_such_module' not found in '" + dir_ + "'");
}

TEST_F(ModuleLoaderTest, AFileTheKernelRefusesNamesTheRequestAndTheFile) {
    if (::geteuid() != 0) GTEST_SKIP() << "finit_module needs root";
    auto loader = ModuleLoader::open(dir_, core::parse_module_cmdline("notamodule.debug=1"));
    ASSERT_TRUE(loader) << loader.error().message;
    auto r = loader->load("fs-nota");
    ASSERT_FALSE(r);
    // ENOEXEC from the ELF check; a kernel that refuses all loading says EPERM, a sandbox
    // without the call ENOSYS. Whichever: the error names the request and the file.
    EXPECT_TRUE(r.error().code == ENOEXEC || r.error().code == EPERM || r.error().code == ENOSYS)
        << r.error().message;
    EXPECT_EQ(
        r.error().message.rfind(
            "load module 'fs-nota': finit_module '" + dir_ + "/kernel/fs/notamodule.ko': ", 0),
        0u)
        << r.error().message;
}

TEST_F(ModuleLoaderTest, AMalformedIndexNamesFileAndLine) {
    ASSERT_TRUE(os::write_file(dir_ + "/modules.alias", "alias fs-nota notamodule\nalias x\n"));
    auto loader = ModuleLoader::open(dir_, {});
    ASSERT_FALSE(loader);
    EXPECT_EQ(loader.error().message, dir_ + "/modules.alias:2: expected 'alias PATTERN MODULE'");
}

TEST_F(ModuleLoaderTest, NoIndexesMeanNothingToFind) {
    auto loader = ModuleLoader::open(dir_ + "/absent", {});
    ASSERT_TRUE(loader) << loader.error().message;
    EXPECT_FALSE(loader->load("ext4"));
    EXPECT_TRUE(loader->load("virtio:d00000002v00001AF4"));
}

TEST_F(ModuleLoaderTest, ListFileSkipsCommentsAndNamesFailingLines) {
    std::string list = dir_ + "/list";
    ASSERT_TRUE(
        os::write_file(list, "# storage\n\n  imageinit_missing_a  \n#x\nimageinit_missing_b\n"));
    auto loader = ModuleLoader::open(dir_, {});
    ASSERT_TRUE(loader);
    auto errors = loader->load_list_file(list);
    ASSERT_EQ(errors.size(), 2u);
    std::string where = " not found in '" + dir_ + "'";
    EXPECT_EQ(errors[0], list + ":3: module 'imageinit_missing_a'" + where);
    EXPECT_EQ(errors[1], list + ":5: module 'imageinit_missing_b'" + where);
}

}  // namespace
}  // namespace imageinit::boot
