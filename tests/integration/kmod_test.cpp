// ModuleLoader against whatever /lib/modules this machine has (often none: then only the
// "nothing to load" paths are exercised; the QEMU tier loads real modules).
#include <gtest/gtest.h>

#include "sys/files.h"
#include "sys/kmod.h"

namespace imageinit::sys {
namespace {

TEST(ModuleLoader, UnknownModaliasIsNothingToLoadButUnknownNameIsAnError) {
    auto loader = ModuleLoader::open();
    ASSERT_TRUE(loader) << loader.error().message;
    auto alias = loader->load("pci:v0000FFFFd0000FFFFsv00000000sd00000000bc00sc00i00");
    ASSERT_TRUE(alias) << alias.error().message;
    EXPECT_EQ(*alias, 0);
    auto name = loader->load("imageinit_no_such_module");
    ASSERT_FALSE(name);
    EXPECT_EQ(name.error().message, "module 'imageinit_no_such_module' not found");
}

TEST(ModuleLoader, ListFileSkipsCommentsAndNamesFailingLines) {
    char tmpl[] = "/tmp/imageinit-kmod.XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    ASSERT_TRUE(
        write_file(tmpl, "# storage\n\n  imageinit_missing_a  \n#x\nimageinit_missing_b\n"));
    auto loader = ModuleLoader::open();
    ASSERT_TRUE(loader);
    auto errors = loader->load_list_file(tmpl);
    ::unlink(tmpl);
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[0], std::string(tmpl) + ":3: module 'imageinit_missing_a' not found");
    EXPECT_EQ(errors[1], std::string(tmpl) + ":5: module 'imageinit_missing_b' not found");
}

}  // namespace
}  // namespace imageinit::sys
