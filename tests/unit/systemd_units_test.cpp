// The mount units handed to systemd (core/systemd_units.h): names as systemd-escape makes them,
// which mounts get one, and the dependencies that order the shutdown.
#include "core/systemd_units.h"

#include <gtest/gtest.h>

namespace imageinit::core {
namespace {

TEST(MountUnitName, EscapesLikeSystemdEscapePath) {
    EXPECT_EQ(mount_unit_name("/var"), "var.mount");
    EXPECT_EQ(mount_unit_name("/run/imageinit/persist"), "run-imageinit-persist.mount");
    EXPECT_EQ(mount_unit_name("/"), "-.mount");
    EXPECT_EQ(mount_unit_name("//var//lib/"), "var-lib.mount");
    EXPECT_EQ(mount_unit_name("/var/lib/my-app"), "var-lib-my\\x2dapp.mount");
    EXPECT_EQ(mount_unit_name("/srv/.hidden/a b"), "srv-.hidden-a\\x20b.mount");
    EXPECT_EQ(mount_unit_name("/.x"), "\\x2ex.mount");
}

UnitContext ctx(std::string persist_device = "/dev/vda2") {
    return UnitContext{"/dev/vda1", "/run/imageinit/state", std::move(persist_device),
                       "/run/imageinit/persist"};
}

MountPlan plan_of(const std::string& fstab, bool persist = true) {
    auto spec = parse_mount_spec(fstab, "fstab");
    EXPECT_TRUE(spec) << spec.error().message;
    auto plan = plan_mounts(*spec, PlanContext{"a", persist});
    EXPECT_TRUE(plan) << plan.error().message;
    return *plan;
}

const UnitFile* find(const std::vector<UnitFile>& units, const std::string& name) {
    for (const auto& u : units)
        if (u.name == name) return &u;
    return nullptr;
}

bool has_line(const UnitFile* u, const std::string& line) {
    return u && ("\n" + u->content).find("\n" + line + "\n") != std::string::npos;
}

constexpr const char* kSpec =
    "tmpfs /tmp tmpfs mode=1777 0 0\n"
    "overlay /etc overlay x-imageinit.upper=tmpfs 0 0\n"
    "persist:/var /var overlay x-imageinit.upper=persist 0 0\n"
    "persist:/etc/ssh /etc/ssh none bind 0 0\n";

TEST(SystemdUnits, PersistentMountsAreOrderedBeforeThePersistentPartition) {
    auto units = systemd_mount_units(plan_of(kSpec), ctx());
    std::vector<std::string> names;
    for (const auto& u : units) names.push_back(u.name);
    EXPECT_EQ(names,
              (std::vector<std::string>{"run-imageinit-state.mount", "run-imageinit-persist.mount",
                                        "var.mount", "etc-ssh.mount"}));
    const UnitFile* var = find(units, "var.mount");
    EXPECT_TRUE(has_line(var, "Requires=run-imageinit-persist.mount"));
    EXPECT_TRUE(has_line(var, "After=run-imageinit-persist.mount"));
    EXPECT_TRUE(has_line(var, "What=overlay"));
    EXPECT_TRUE(has_line(var, "Where=/var"));
    EXPECT_TRUE(has_line(var, "Type=overlay"));
    const UnitFile* ssh = find(units, "etc-ssh.mount");
    EXPECT_TRUE(has_line(ssh, "What=/run/imageinit/persist/shared/etc/ssh"));
    EXPECT_TRUE(has_line(ssh, "Options=bind"));
    const UnitFile* persist = find(units, "run-imageinit-persist.mount");
    EXPECT_TRUE(has_line(persist, "What=/dev/vda2"));
    EXPECT_TRUE(has_line(persist, "Conflicts=umount.target"));
}

TEST(SystemdUnits, StatePartitionIsNeverStoppedAtShutdown) {
    auto units = systemd_mount_units(plan_of(kSpec), ctx());
    const UnitFile* state = find(units, "run-imageinit-state.mount");
    ASSERT_NE(state, nullptr);
    EXPECT_TRUE(has_line(state, "DefaultDependencies=no"));
    EXPECT_TRUE(has_line(state, "What=/dev/vda1"));
    EXPECT_EQ(state->content.find("\nConflicts="), std::string::npos) << state->content;
}

TEST(SystemdUnits, DegradedBootHasNoPersistentUnits) {
    auto units = systemd_mount_units(plan_of(kSpec, false), ctx(""));
    ASSERT_EQ(units.size(), 1u);
    EXPECT_EQ(units[0].name, "run-imageinit-state.mount");
}

TEST(SystemdUnits, PercentSignsAreNotSpecifiers) {
    auto units = systemd_mount_units(plan_of("persist:/srv/100% /srv/100% none bind 0 0\n"), ctx());
    const UnitFile* u = find(units, "srv-100\\x25.mount");
    ASSERT_NE(u, nullptr);
    EXPECT_TRUE(has_line(u, "Where=/srv/100%%")) << u->content;
}

}  // namespace
}  // namespace imageinit::core
