// Unit tests for core/mount_plan: ordering, flags and data, persistent directories, degraded
// planning without a persistent partition, and the printable plan.
#include "core/mount_plan.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <string>

namespace imageinit::core {
namespace {

MountPlan plan_of(std::string_view text, PlanContext ctx = {}) {
    auto spec = parse_mount_spec(text, "spec");
    EXPECT_TRUE(spec.has_value()) << (spec ? "" : spec.error().message);
    if (!spec) return {};
    auto plan = plan_mounts(*spec, ctx);
    EXPECT_TRUE(plan.has_value()) << (plan ? "" : plan.error().message);
    return plan ? std::move(*plan) : MountPlan{};
}

std::vector<std::string> targets_of(const MountPlan& plan) {
    std::vector<std::string> out;
    for (const auto& m : plan.mounts) out.push_back(m.target);
    return out;
}

TEST(MountPlan, ParentsComeBeforeChildrenEvenWhenListedAfter) {
    MountPlan plan = plan_of(
        "persist:/etc/ssh /etc/ssh none bind\n"
        "LABEL=D /data/deep/x ext4 defaults\n"
        "tmpfs /tmp tmpfs\n"
        "overlay /etc overlay x-imageinit.upper=tmpfs\n"
        "LABEL=E /data ext4 defaults\n");
    EXPECT_EQ(targets_of(plan),
              (std::vector<std::string>{"/tmp", "/etc", "/data", "/etc/ssh", "/data/deep/x"}));
}

TEST(MountPlan, UnrelatedEntriesOfEqualDepthKeepSpecOrder) {
    MountPlan plan = plan_of("tmpfs /b tmpfs\ntmpfs /a tmpfs\ntmpfs /c tmpfs\n");
    EXPECT_EQ(targets_of(plan), (std::vector<std::string>{"/b", "/a", "/c"}));
}

TEST(MountPlan, OptionsSplitIntoFlagsAndData) {
    struct Case {
        std::string line;
        unsigned long flags;
        std::string data;
    };
    const Case cases[] = {
        // tmpfs: nosuid,nodev by default
        {"tmpfs /tmp tmpfs mode=1777,size=25%", MS_NOSUID | MS_NODEV, "mode=1777,size=25%"},
        {"tmpfs /tmp tmpfs mode=1777,nosuid,nodev,noexec", MS_NOSUID | MS_NODEV | MS_NOEXEC,
         "mode=1777"},
        {"tmpfs /tmp tmpfs suid", MS_NODEV, ""},  // explicitly asked for: honoured
        {"tmpfs /tmp tmpfs dev,ro", MS_NOSUID | MS_RDONLY, ""},
        {"LABEL=D /d ext4 ro,noatime,commit=30,x-systemd.after=x,_netdev,defaults",
         MS_RDONLY | MS_NOATIME, "commit=30"},
        {"LABEL=D /d ext4 defaults", 0, ""},
        {"overlay /etc overlay x-imageinit.upper=tmpfs,redirect_dir=on,noexec", MS_NOEXEC,
         "redirect_dir=on"},
        // persistent: nosuid,nodev forced; "bind" is the action, not a flag
        {"persist:/etc/ssh /etc/ssh none bind", MS_NOSUID | MS_NODEV, ""},
        {"persist:/etc/ssh /etc/ssh none bind,ro,noexec",
         MS_NOSUID | MS_NODEV | MS_RDONLY | MS_NOEXEC, ""},
        {"persist:/var /var overlay x-imageinit.upper=persist,nosuid", MS_NOSUID | MS_NODEV, ""},
    };
    for (const auto& c : cases) {
        MountPlan plan = plan_of(c.line);
        ASSERT_EQ(plan.mounts.size(), 1u) << c.line;
        EXPECT_EQ(plan.mounts[0].flags, c.flags) << c.line;
        EXPECT_EQ(plan.mounts[0].data, c.data) << c.line;
        EXPECT_EQ(plan.mounts[0].flags & (MS_BIND | MS_REC | MS_REMOUNT | MS_MOVE), 0u) << c.line;
    }
}

TEST(MountPlan, EachKindBecomesItsAction) {
    MountPlan plan = plan_of(
        "tmpfs /tmp tmpfs mode=1777\n"
        "overlay /etc overlay x-imageinit.upper=tmpfs\n"
        "persist:/etc/ssh /etc/ssh none bind\n"
        "persist:/var /var overlay x-imageinit.upper=persist\n"
        "LABEL=DATA /data ext4 nofail\n",
        PlanContext{"b", true});
    ASSERT_EQ(plan.mounts.size(), 5u);
    EXPECT_FALSE(plan.degraded);
    EXPECT_TRUE(plan.warnings.empty());

    const PlannedMount& tmp = plan.mounts[0];
    EXPECT_EQ(tmp.action, MountAction::kTmpfs);
    EXPECT_EQ(tmp.source, "tmpfs");
    EXPECT_EQ(tmp.fstype, "tmpfs");
    EXPECT_EQ(tmp.line, 1);

    const PlannedMount& etc = plan.mounts[1];
    EXPECT_EQ(etc.action, MountAction::kOverlay);
    EXPECT_FALSE(etc.upper_persistent);
    EXPECT_TRUE(etc.persist_dir.empty());
    EXPECT_TRUE(etc.work_dir.empty());

    const PlannedMount& var = plan.mounts[2];
    EXPECT_EQ(var.target, "/var");
    EXPECT_EQ(var.action, MountAction::kOverlay);
    EXPECT_TRUE(var.upper_persistent);
    EXPECT_EQ(var.persist_dir, "shared/var");
    EXPECT_EQ(var.work_dir, ".work/shared/var");
    EXPECT_FALSE(var.seed_from_image);

    const PlannedMount& data = plan.mounts[3];
    EXPECT_EQ(data.action, MountAction::kDevice);
    EXPECT_EQ(data.source, "LABEL=DATA");
    EXPECT_EQ(data.fstype, "ext4");
    EXPECT_TRUE(data.nofail);

    const PlannedMount& ssh = plan.mounts[4];
    EXPECT_EQ(ssh.action, MountAction::kBind);
    EXPECT_EQ(ssh.persist_dir, "shared/etc/ssh");
    EXPECT_TRUE(ssh.seed_from_image);
    EXPECT_TRUE(ssh.work_dir.empty());
    EXPECT_FALSE(ssh.degraded);
}

TEST(MountPlan, PersistDirDependsOnScopeAndSlot) {
    MountPlan plan = plan_of(
        "persist:/etc/app /etc/app none bind,x-imageinit.scope=slot\n"
        "persist:/var /var overlay x-imageinit.upper=persist,x-imageinit.scope=slot\n"
        "persist:/srv/data /srv none bind,x-imageinit.scope=shared\n",
        PlanContext{"recovery", true});
    ASSERT_EQ(plan.mounts.size(), 3u);
    EXPECT_EQ(plan.mounts[0].persist_dir, "slots/recovery/var");
    EXPECT_EQ(plan.mounts[0].work_dir, ".work/slots/recovery/var");
    EXPECT_EQ(plan.mounts[1].persist_dir, "shared/srv/data");
    EXPECT_EQ(plan.mounts[2].persist_dir, "slots/recovery/etc/app");

    SpecEntry e;
    e.kind = EntryKind::kPersistBind;
    e.persist_path = "/a/b";
    EXPECT_EQ(persist_dir_for(e, "a"), "shared/a/b");
    e.scope = PersistScope::kSlot;
    EXPECT_EQ(persist_dir_for(e, "b"), "slots/b/a/b");
}

TEST(MountPlan, InvalidSlotNameIsRejectedWhenSlotScopeIsUsed) {
    auto spec = parse_mount_spec("persist:/a /a none bind,x-imageinit.scope=slot\n", "spec");
    ASSERT_TRUE(spec.has_value());
    for (std::string slot : {"", "..", "a/b", "x\ny"}) {
        auto plan = plan_mounts(*spec, PlanContext{slot, true});
        EXPECT_FALSE(plan.has_value()) << slot;
    }
    auto plan = plan_mounts(*spec, PlanContext{"../x", true});
    ASSERT_FALSE(plan.has_value());
    EXPECT_EQ(plan.error().message, "plan-mounts: invalid slot name '../x'");
}

TEST(MountPlan, WithoutPersistentPartitionPersistentEntriesBecomeTemporaryOverlays) {
    MountPlan plan = plan_of(
        "tmpfs /tmp tmpfs\n"
        "persist:/etc/ssh /etc/ssh none bind,x-imageinit.scope=slot\n"
        "persist:/var /var overlay x-imageinit.upper=persist\n",
        PlanContext{"a", false});
    ASSERT_EQ(plan.mounts.size(), 3u);
    EXPECT_TRUE(plan.degraded);
    EXPECT_FALSE(plan.mounts[0].degraded);
    for (const PlannedMount* m : {&plan.mounts[1], &plan.mounts[2]}) {
        EXPECT_EQ(m->action, MountAction::kOverlay) << m->target;
        EXPECT_FALSE(m->upper_persistent) << m->target;
        EXPECT_TRUE(m->persist_dir.empty()) << m->target;
        EXPECT_TRUE(m->work_dir.empty()) << m->target;
        EXPECT_FALSE(m->seed_from_image) << m->target;
        EXPECT_TRUE(m->degraded) << m->target;
        EXPECT_EQ(m->flags & (MS_NOSUID | MS_NODEV), MS_NOSUID | MS_NODEV) << m->target;
    }
    EXPECT_EQ(plan.warnings, (std::vector<std::string>{
                                 "spec:2: persistent bind on '/etc/ssh' is temporary this boot: "
                                 "no persistent partition (degraded)",
                                 "spec:3: persistent overlay on '/var' is temporary this boot: "
                                 "no persistent partition (degraded)",
                             }));
    EXPECT_EQ(plan.mounts[2].describe(),
              "overlay on /etc/ssh (upper tmpfs, degraded: temporary, no persistent partition)");
}

TEST(MountPlan, DegradedPlanDoesNotNeedAValidSlot) {
    auto spec = parse_mount_spec("persist:/a /a none bind,x-imageinit.scope=slot\n", "spec");
    ASSERT_TRUE(spec.has_value());
    EXPECT_TRUE(plan_mounts(*spec, PlanContext{"", false}).has_value());
}

TEST(MountPlan, NoPathEverGoesIntoData) {
    // Every kind, with and without the persistent partition, with options that could look
    // like paths to a careless splitter.
    const std::string text =
        "tmpfs /tmp tmpfs mode=1777,size=25%,uid=0\n"
        "overlay /etc overlay x-imageinit.upper=tmpfs,index=off\n"
        "overlay /usr/share overlay x-imageinit.upper=tmpfs\n"
        "persist:/etc/ssh /etc/ssh none bind\n"
        "persist:/var /var overlay x-imageinit.upper=persist,x-imageinit.scope=slot\n"
        "LABEL=DATA /data ext4 noatime,errors=remount-ro\n"
        "/dev/vdb1 /srv xfs defaults\n";
    for (bool persist : {true, false}) {
        MountPlan plan = plan_of(text, PlanContext{"a", persist});
        ASSERT_EQ(plan.mounts.size(), 7u);
        for (const PlannedMount& m : plan.mounts) {
            EXPECT_EQ(m.data.find('/'), std::string::npos) << m.target << ": " << m.data;
            for (const char* key : {"lowerdir", "upperdir", "workdir"}) {
                EXPECT_EQ(m.data.find(key), std::string::npos) << m.target << ": " << m.data;
            }
        }
    }
}

TEST(MountPlan, SpecsBuiltByOtherCodeGetTheSameSafetyChecks) {
    MountSpec spec;
    spec.file = "hand";
    SpecEntry e;
    e.file = "hand";
    e.line = 1;
    e.kind = EntryKind::kDevice;
    e.source = "LABEL=X";
    e.fstype = "ext4";
    e.target = "/data";
    e.options = "journal_path=/dev/sdb";
    spec.entries.push_back(e);
    auto plan = plan_mounts(spec, {});
    ASSERT_FALSE(plan.has_value());
    EXPECT_EQ(plan.error().message, "hand:1: mount data 'journal_path=/dev/sdb' carries a path");

    spec.entries[0].options = "";
    spec.entries.push_back(spec.entries[0]);
    spec.entries[1].line = 2;
    plan = plan_mounts(spec, {});
    ASSERT_FALSE(plan.has_value());
    EXPECT_EQ(plan.error().message, "hand:2: duplicate mount point '/data'");

    spec.entries.pop_back();
    spec.entries[0].target = "/proc/x";
    plan = plan_mounts(spec, {});
    ASSERT_FALSE(plan.has_value());
    EXPECT_EQ(plan.error().message, "hand:1: mount point '/proc/x' is not allowed");
}

TEST(MountPlan, DescribeGivesOneReadableLinePerMount) {
    MountPlan plan = plan_of(
        "tmpfs /tmp tmpfs mode=1777\n"
        "overlay /etc overlay x-imageinit.upper=tmpfs\n"
        "persist:/var /var overlay x-imageinit.upper=persist\n"
        "LABEL=DATA /data ext4 ro,nofail\n"
        "persist:/etc/ssh /etc/ssh none bind\n");
    ASSERT_EQ(plan.mounts.size(), 5u);
    EXPECT_EQ(plan.mounts[0].describe(), "tmpfs on /tmp (mode=1777)");
    EXPECT_EQ(plan.mounts[1].describe(), "overlay on /etc (upper tmpfs)");
    EXPECT_EQ(plan.mounts[2].describe(), "overlay on /var (upper persistent shared/var)");
    EXPECT_EQ(plan.mounts[3].describe(), "ext4 LABEL=DATA on /data (nofail, read-only)");
    EXPECT_EQ(plan.mounts[4].describe(),
              "bind persistent shared/etc/ssh on /etc/ssh (seeded from image on first use)");
    EXPECT_EQ(format_plan(plan),
              "1. tmpfs on /tmp (mode=1777)\n"
              "2. overlay on /etc (upper tmpfs)\n"
              "3. overlay on /var (upper persistent shared/var)\n"
              "4. ext4 LABEL=DATA on /data (nofail, read-only)\n"
              "5. bind persistent shared/etc/ssh on /etc/ssh (seeded from image on first use)\n");
}

TEST(MountPlan, FormatPlanListsWarningsAndEmptyPlans) {
    EXPECT_EQ(format_plan(MountPlan{}), "(no mounts)\n");
    MountPlan plan =
        plan_of("persist:/var /var overlay x-imageinit.upper=persist\n", PlanContext{"a", false});
    EXPECT_EQ(format_plan(plan),
              "1. overlay on /var (upper tmpfs, degraded: temporary, no persistent partition)\n"
              "warning: spec:1: persistent overlay on '/var' is temporary this boot: no "
              "persistent partition (degraded)\n");
}

TEST(MountPlan, DefaultSpecPlansTmpEtcAndVar) {
    MountPlan plan = *plan_mounts(default_mount_spec(), {});
    EXPECT_EQ(format_plan(plan),
              "1. tmpfs on /tmp (mode=1777)\n"
              "2. overlay on /etc (upper tmpfs)\n"
              "3. overlay on /var (upper persistent shared/var)\n");
    EXPECT_EQ(plan.mounts[0].flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
}

TEST(MountPlan, HundredThousandEntriesPlanInOrder) {
    std::string text;
    for (int i = 99999; i >= 0; --i) {
        text += "tmpfs /srv/" + std::to_string(i % 100) +
                (i >= 100 ? "/" + std::to_string(i) : "") + " tmpfs\n";
    }
    MountPlan plan = plan_of(text);
    ASSERT_EQ(plan.mounts.size(), 100000u);
    for (size_t i = 0; i < 100; ++i)
        EXPECT_EQ(std::count(plan.mounts[i].target.begin(), plan.mounts[i].target.end(), '/'), 2);
    EXPECT_EQ(std::count(plan.mounts[100].target.begin(), plan.mounts[100].target.end(), '/'), 3);
}

}  // namespace
}  // namespace imageinit::core

namespace imageinit::core {
namespace {

std::vector<PlannedMount> mounts_at(std::initializer_list<const char*> targets) {
    std::vector<PlannedMount> out;
    for (const char* t : targets) {
        out.emplace_back();
        out.back().target = t;
    }
    return out;
}

// `check` looked for each mount's enclosing mount by scanning all mounts before it: 100,000
// sibling entries took 42 s (issue 19). The lookup by path gives the same answers.
TEST(EnclosingMounts, NearestEarlierMountOnTheSamePathOrAParent) {
    auto m = mounts_at(
        {"/var", "/var/lib", "/srv", "/var/lib/x", "/var/libx", "/var/lib", "/var/lib/x/y/z", "/"});
    // nearest in plan order: the later /var/lib (5), not the deeper /var/lib/x (3)
    std::vector<long> want = {-1, 0, -1, 1, 0, 1, 5, -1};
    EXPECT_EQ(enclosing_mounts(m), want);
    auto root_first = mounts_at({"/", "/a", "/a/b", "/c"});
    EXPECT_EQ(enclosing_mounts(root_first), (std::vector<long>{-1, 0, 1, 0}));
}

TEST(EnclosingMounts, HundredThousandSiblingsHaveNoEnclosingMount) {
    std::vector<PlannedMount> m(100000);
    for (size_t i = 0; i < m.size(); ++i) m[i].target = "/m/d" + std::to_string(i);
    std::vector<long> got = enclosing_mounts(m);
    EXPECT_EQ(std::count(got.begin(), got.end(), -1), 100000);
}

}  // namespace
}  // namespace imageinit::core
