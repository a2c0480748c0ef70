// The rules the real seams apply (core/boot_policy.h): mount-point landing and seed staging; and a
// slot step's structured failure (boot/step_runner.h).
#include "core/boot_policy.h"

#include <gtest/gtest.h>

#include "boot/step_runner.h"

namespace imageinit::core {
namespace {

TEST(CheckLanding, ExactlyRootPlusPathIsAccepted) {
    struct Case {
        const char* path;
        const char* root_at;
        const char* landed;
    };
    for (const Case& c :
         {Case{"/etc", "/sysroot", "/sysroot/etc"}, Case{"/", "/sysroot", "/sysroot"},
          Case{"/etc", "/", "/etc"}, Case{"/", "/", "/"}}) {
        EXPECT_TRUE(check_landing(c.path, c.root_at, c.landed)) << c.path << " in " << c.root_at;
    }
}

TEST(CheckLanding, ALinkInsideTheRootIsRefusedNamingWhereItWentRelativeToTheRoot) {
    auto r = check_landing("/etc/ssh", "/sysroot", "/sysroot/var/ssh");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ELOOP);
    EXPECT_EQ(r.error().message,
              "'/etc/ssh' resolves to '/var/ssh' through a symlink: refusing to mount there");
}

TEST(CheckLanding, ALandingOutsideTheRootIsNamedInFull) {
    auto r = check_landing("/etc", "/sysroot", "/run/x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "'/etc' resolves to '/run/x' through a symlink: refusing to mount there");
}

TEST(CheckLanding, APrefixThatIsNotADirectoryBoundaryIsNotTheTarget) {
    EXPECT_FALSE(check_landing("/etc", "/sysroot", "/sysroot/etcetera"));
    EXPECT_FALSE(check_landing("/etc", "/", "/etc/x"));
}

TEST(SeedStaging, StagesBelowDotSeedAndRenamesToTheParentAndLeaf) {
    struct Case {
        const char* rel;
        const char* parent;
        const char* leaf;
    };
    for (const Case& c : {Case{"shared/etc/ssh", "shared/etc", "ssh"}, Case{"var", "", "var"},
                          Case{"slots/b/etc", "slots/b", "etc"}}) {
        SeedStaging s = seed_staging(c.rel, 42, 7);
        EXPECT_EQ(s.staging, ".seed/42-7");
        EXPECT_EQ(s.parent, c.parent) << c.rel;
        EXPECT_EQ(s.leaf, c.leaf) << c.rel;
    }
    EXPECT_NE(seed_staging("a", 42, 7).staging, seed_staging("a", 42, 8).staging);
}

TEST(SlotStep, AFailureComesBackStructuredWithoutAPrefix) {
    boot::StepRunner steps;
    auto failed =
        steps.run_slot_step("read-spec", "b", [] { return Result<void>(fail(EINVAL, "bad")); });
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->step, "read-spec");
    EXPECT_EQ(failed->code, EINVAL);
    EXPECT_EQ(failed->message, "bad");
    ASSERT_EQ(steps.records().size(), 1u);
    EXPECT_FALSE(steps.records()[0].ok);
    EXPECT_FALSE(steps.run_slot_step("plan-mounts", "b", [] { return ok(); }));
}

}  // namespace
}  // namespace imageinit::core
