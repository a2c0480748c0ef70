// The attack catalogue of issue 8 at the namespace level, through boot::RealPlatform and the
// mount executor: symlinks in the image at mount targets, a persistent directory replaced by a
// symlink (flatpak CVE-2024-42472), nosuid/nodev on persistent mounts, and a boot-state record
// that is damaged or symlinked off the state partition. Each case checks that nothing outside
// the root was mounted or written.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "boot/apply_plan.h"
#include "boot/real_platform.h"
#include "boot/state_store.h"
#include "core/boot_record.h"
#include "core/mount_plan.h"
#include "core/mount_spec.h"
#include "namespace_fixture.h"

namespace imageinit::boot {
namespace {

using imageinit::testing::NamespaceTest;

// Mount points of this mount namespace (field 5 of mountinfo; octal escapes left as they are).
std::set<std::string> mount_points() {
    std::set<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string f;
        for (int i = 0; i < 5 && fields >> f; ++i) {
        }
        out.insert(f);
    }
    return out;
}

// Mount points added since `before` that do not lie at or below `root`.
std::vector<std::string> mounts_outside(const std::set<std::string>& before,
                                        const std::string& root) {
    std::vector<std::string> out;
    for (const std::string& m : mount_points()) {
        if (before.count(m)) continue;
        if (m != root && !m.starts_with(root + "/")) out.push_back(m);
    }
    return out;
}

// "name=content" for every entry below `dir` (symlinks shown as "name->target"), sorted.
std::string listing(const std::string& dir) {
    std::string out;
    std::set<std::string> lines;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        std::string rel = it->path().string().substr(dir.size());
        if (it->is_symlink()) {
            lines.insert(rel + "->" + std::filesystem::read_symlink(it->path()).string());
        } else if (it->is_regular_file()) {
            std::ifstream f(it->path());
            std::stringstream s;
            s << f.rdbuf();
            lines.insert(rel + "=" + s.str());
        } else {
            lines.insert(rel + "/");
        }
    }
    for (const auto& l : lines) out += l + "\n";
    return out;
}

core::MountPlan plan_of(const std::string& text) {
    auto spec = core::parse_mount_spec(text, "fstab");
    EXPECT_TRUE(spec.has_value()) << (spec ? "" : spec.error().message);
    if (!spec) return {};
    auto plan = core::plan_mounts(*spec, core::PlanContext{"a", true});
    EXPECT_TRUE(plan.has_value()) << (plan ? "" : plan.error().message);
    return plan ? std::move(*plan) : core::MountPlan{};
}

class HostilePaths : public NamespaceTest {
  protected:
    // An "image" root, a persistent partition, a tmpfs-like store for temporary overlays, and a
    // directory outside all of them that no case may touch.
    void make_tree(const std::string& extra) {
        root_ = path("image");
        persist_ = path("persist");
        store_ = path("store");
        outside_ = path("outside");
        ASSERT_TRUE(sh("mkdir -p " + root_ + "/etc/ssh " + root_ + "/inner " + root_ + "/var/lib " +
                       persist_ + " " + store_ + " " + outside_ + " && echo image-key > " + root_ +
                       "/etc/ssh/key && echo keep > " + outside_ + "/secret" +
                       (extra.empty() ? "" : " && " + extra)));
        outside_before_ = listing(outside_);
    }

    Result<Applied> apply(RealPlatform& p, const std::string& spec_text, std::vector<Undo>& undo) {
        root_dir_ = TRY(p.files().open_dir(root_));
        persist_dir_ = TRY(p.files().open_dir(persist_));
        store_dir_ = TRY(p.files().open_dir(store_));
        ApplyContext ctx{&root_dir_, &persist_dir_, &store_dir_, "fstab", false};
        return apply_plan(p.seams(), plan_of(spec_text), ctx, undo);
    }

    void expect_outside_untouched(const std::set<std::string>& before) {
        EXPECT_EQ(listing(outside_), outside_before_);
        EXPECT_EQ(mounts_outside(before, root_), std::vector<std::string>{});
    }

    std::string root_, persist_, store_, outside_, outside_before_;
    Dir root_dir_, persist_dir_, store_dir_;
};

// Symlinks in the image at mount targets, absolute and relative, are resolved as if the image
// were "/" (never outside), and a target that resolves anywhere but where the spec says is
// refused: nothing is mounted.
TEST_F(HostilePaths, ImageSymlinksAtMountTargetsStayInsideTheRoot) {
    make_tree("ln -s " + path("outside") + " " + path("image") + "/abs && ln -s ../../../../" +
              "../../inner " + path("image") + "/rel && ln -s /../../inner/../inner " +
              path("image") + "/absdots && ln -s ../../../outside " + path("image") +
              "/var/lib/up");
    in_namespace([&] {
        RealPlatform p(nullptr, nullptr);
        auto before = mount_points();
        {
            // The host path of `outside` does not exist inside the image.
            std::vector<Undo> undo;
            auto r = apply(p, "tmpfs /abs tmpfs\n", undo);
            ASSERT_FALSE(r);
            EXPECT_EQ(r.error().code, ENOENT);
            EXPECT_TRUE(r.error().message.starts_with("fstab:1: mount point '/abs': "))
                << r.error().message;
            EXPECT_TRUE(undo.empty());
            r = apply(p, "overlay /var/lib/up overlay x-imageinit.upper=tmpfs\n", undo);
            ASSERT_FALSE(r);
            EXPECT_EQ(r.error().code, ENOENT);
        }
        expect_outside_untouched(before);
        for (const char* target : {"/rel", "/absdots"}) {
            // ".." stops at the image's root, so these resolve to image/inner; a mount point
            // that is not where the spec says is refused rather than followed.
            std::vector<Undo> undo;
            auto r = apply(p, std::string("tmpfs ") + target + " tmpfs size=1M\n", undo);
            ASSERT_FALSE(r) << target;
            EXPECT_EQ(r.error().code, ELOOP) << r.error().message;
            EXPECT_NE(r.error().message.find("resolves to '/inner' through a symlink"),
                      std::string::npos)
                << r.error().message;
            EXPECT_TRUE(undo.empty());
            EXPECT_FALSE(mount_points().count(root_ + "/inner")) << target;
            expect_outside_untouched(before);
        }
    });
}

// A persistent directory replaced by a symlink on the persistent partition (absolute, relative,
// as an intermediate component, dangling) is refused, with or without seeding, and what the
// link points to is neither written nor mounted over.
TEST_F(HostilePaths, PersistentDirectoryReplacedBySymlinkIsRefused) {
    make_tree("mkdir -p " + path("persist") + "/shared/etc " + path("persist") + "/slots && " +
              "ln -s " + path("outside") + " " + path("persist") + "/shared/etc/ssh && " +
              "ln -s ../../outside " + path("persist") + "/shared/var && " + "ln -s " +
              path("outside") + " " + path("persist") + "/slots/a && " + "ln -s " +
              path("outside") + "/created " + path("persist") + "/shared/new");
    in_namespace([&] {
        RealPlatform p(nullptr, nullptr);
        auto before = mount_points();
        Dir persist = p.files().open_dir(persist_).value();
        Dir seed = p.files().open_dir(root_ + "/etc/ssh").value();
        for (const char* rel :
             {"shared/etc/ssh", "/shared/var", "slots/a/etc", "shared/new", "shared/new/sub"}) {
            for (const Dir* s :
                 {static_cast<const Dir*>(&seed), static_cast<const Dir*>(nullptr)}) {
                auto made = p.files().make_persist_dir(persist, rel, s);
                ASSERT_FALSE(made) << rel << (s ? " seeded" : "");
                EXPECT_TRUE(made.error().code == ELOOP || made.error().code == ENOTDIR)
                    << rel << ": " << made.error().message;
            }
        }
        expect_outside_untouched(before);
        EXPECT_EQ(std::filesystem::read_symlink(persist_ + "/shared/etc/ssh"), outside_);

        // The same through the executor: the slot fails with file:line, nothing is mounted.
        for (const char* line : {"persist:/etc/ssh /etc/ssh none bind\n",
                                 "persist:/var /var overlay x-imageinit.upper=persist\n",
                                 "persist:/etc /etc none bind,x-imageinit.scope=slot\n"}) {
            std::vector<Undo> undo;
            auto r = apply(p, line, undo);
            ASSERT_FALSE(r) << line;
            EXPECT_TRUE(r.error().message.starts_with("fstab:1: ")) << r.error().message;
            EXPECT_TRUE(undo.empty()) << line;
            EXPECT_EQ(mount_points(), before) << line;
        }
        expect_outside_untouched(before);
    });
}

// Files on the writable partition never get setuid or device semantics: the spec cannot ask
// for them, and the mounts made carry nosuid,nodev even when it does not say so.
TEST_F(HostilePaths, PersistentMountsAreNosuidNodev) {
    make_tree("");
    for (const char* line : {"persist:/etc/ssh /etc/ssh none bind,suid\n",
                             "persist:/var /var overlay x-imageinit.upper=persist,dev\n"}) {
        auto spec = core::parse_mount_spec(line, "fstab");
        ASSERT_FALSE(spec) << line;
        EXPECT_NE(spec.error().message.find("is not allowed on a persistent mount"),
                  std::string::npos);
    }
    in_namespace([&] {
        RealPlatform p(nullptr, nullptr);
        auto before = mount_points();
        std::vector<Undo> undo;
        auto r =
            apply(p,
                  "persist:/etc/ssh /etc/ssh none bind\n"
                  "persist:/var /var overlay x-imageinit.upper=persist,x-imageinit.scope=slot\n",
                  undo);
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(undo.size(), 2u);
        for (const char* target : {"/etc/ssh", "/var"}) {
            struct statvfs vfs;
            ASSERT_EQ(::statvfs((root_ + target).c_str(), &vfs), 0) << target;
            EXPECT_TRUE(vfs.f_flag & ST_NOSUID) << target;
            EXPECT_TRUE(vfs.f_flag & ST_NODEV) << target;
        }
        // Seeded from the image on first use.
        std::ifstream key(root_ + "/etc/ssh/key");
        std::string text;
        std::getline(key, text);
        EXPECT_EQ(text, "image-key");
        expect_outside_untouched(before);
    });
}

// Known limit (docs/security.md): a target below a persistent overlay is resolved through the
// overlay's upper layer, which whoever can write the persistent partition controls. A symlink
// planted there sends the later mount elsewhere in the root (here: over /etc). It stays inside
// the root, so the property above holds, but the spec's target is not what gets mounted.
// The executor compares where the target resolved with where the spec says it is, and refuses.
TEST_F(HostilePaths, SymlinkInPersistentUpperDoesNotRedirectALaterMount) {
    make_tree("mkdir -p " + path("persist") + "/shared/var/lib && ln -s /etc " + path("persist") +
              "/shared/var/lib/x && mkdir -p " + path("image") + "/var/lib/x");
    in_namespace([&] {
        RealPlatform p(nullptr, nullptr);
        auto before = mount_points();
        std::vector<Undo> undo;
        auto r = apply(p,
                       "persist:/var /var overlay x-imageinit.upper=persist\n"
                       "tmpfs /var/lib/x tmpfs size=1M\n",
                       undo);
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("resolves to '/etc' through a symlink"), std::string::npos)
            << r.error().message;
        EXPECT_FALSE(mount_points().count(root_ + "/etc")) << "the tmpfs for /var/lib/x went "
                                                              "over /etc";
        expect_outside_untouched(before);
    });
}

// A damaged boot-state record never blocks booting: the defaults (slot a, proven) are used, a
// warning names the damage, and the bad bytes are kept beside it for a person to look at.
TEST_F(HostilePaths, DamagedRecordFallsBackToDefaultsAndIsKept) {
    core::BootRecord rec = core::default_record();
    rec.primary = "b";
    rec.slots["b"] = {core::SlotHealth::kTrying, 1, ""};
    const std::string good = core::encode_record(rec);
    std::string flipped = good;
    flipped[20] ^= 0x08;
    std::string future = good;
    future.replace(future.find(" 1\n"), 3, " 7\n");
    struct Case {
        const char* name;
        std::string bytes;
        const char* warning;
    };
    const std::vector<Case> cases = {
        {"truncated", good.substr(0, good.size() / 2), "unusable (truncated"},
        {"bit-flipped", flipped, "unusable ("},
        {"future version", future, "record version 7 is newer than this imageinit"},
        {"oversized", std::string(core::kRecordMaxBytes + 100, 'x'), ""},
        {"empty", "", "unusable (record is empty)"},
    };
    in_namespace([&] {
        RealRootFs p;
        std::string state = path("state");
        for (const Case& c : cases) {
            std::filesystem::remove_all(state);
            std::filesystem::create_directories(state + "/imageinit");
            std::ofstream(state + "/imageinit/state", std::ios::binary) << c.bytes;
            Dir root = p.open_dir(state).value();
            LoadedRecord loaded = load_record(p, root);
            EXPECT_TRUE(loaded.fresh) << c.name;
            EXPECT_EQ(loaded.record, core::default_record()) << c.name;
            EXPECT_NE(loaded.warning.find(c.warning), std::string::npos)
                << c.name << ": " << loaded.warning;
            EXPECT_EQ(loaded.warning.find('\n'), std::string::npos) << c.name;
        }
        // The good record is read as it is.
        std::ofstream(state + "/imageinit/state", std::ios::binary | std::ios::trunc) << good;
        Dir root = p.open_dir(state).value();
        LoadedRecord loaded = load_record(p, root);
        EXPECT_FALSE(loaded.fresh);
        EXPECT_EQ(loaded.record, core::normalize_record(rec));
    });
}

// The record's path on the writable state partition is a symlink to a file outside it: it is
// not followed (an unusable record, defaults), and a write through a symlinked directory is
// refused.
TEST_F(HostilePaths, RecordSymlinkedOffTheStatePartitionIsNotFollowedOut) {
    core::BootRecord rec = core::default_record();
    rec.primary = "b";
    rec.slots["b"] = {core::SlotHealth::kGood, 0, ""};
    std::string state = path("state");
    make_tree("mkdir -p " + state + "/imageinit && ln -s " + path("outside") + "/state " + state +
              "/imageinit/state && ln -s " + path("outside") + " " + state + "/linked");
    {
        std::ofstream(outside_ + "/state", std::ios::binary) << core::encode_record(rec);
        outside_before_ = listing(outside_);
    }
    in_namespace([&] {
        RealRootFs p;
        auto before = mount_points();
        Dir root = p.open_dir(state).value();
        LoadedRecord loaded = load_record(p, root);
        EXPECT_TRUE(loaded.fresh);  // the outside record (primary b) is not seen
        EXPECT_EQ(loaded.record.primary, "a");

        // Writing replaces the link itself (rename over it), never the file it points to.
        ASSERT_TRUE(store_record(p, root, core::default_record()));
        EXPECT_FALSE(std::filesystem::is_symlink(state + "/imageinit/state"));
        // A directory on the way that is a symlink is refused.
        auto made = p.make_dirs(root, "linked/imageinit");
        EXPECT_FALSE(made);
        expect_outside_untouched(before);
    });
}

}  // namespace
}  // namespace imageinit::boot
