// Root-only benchmarks, in the private mount namespace main() set up: loop attach + mount of a
// squashfs, erofs and ext4 image, and the whole default-style mount plan applied with
// boot::apply_plan on boot::RealPlatform (image loop-mounted, tmpfs "persistent partition").
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "boot/apply_plan.h"
#include "boot/real_platform.h"
#include "core/mount_plan.h"
#include "core/mount_spec.h"
#include "os/loop.h"
#include "os/mount.h"

namespace imageinit {
namespace {

// The QEMU tests' spec (qemu/harness.py DEFAULT_SPEC): one entry of every kind.
constexpr const char* kSpec =
    "tmpfs /tmp tmpfs mode=1777,size=16m 0 0\n"
    "overlay /etc overlay x-imageinit.upper=tmpfs 0 0\n"
    "persist:/var/lib/test /var/lib/test none bind 0 0\n"
    "persist:/srv /srv overlay x-imageinit.upper=persist 0 0\n"
    "persist:/var/lib/slotconf /var/lib/slotconf none bind,x-imageinit.scope=slot 0 0\n";

// A scratch directory with one image per filesystem type, built once per process.
struct Images {
    std::string dir;
    bool ok = false;
    Images() {
        char tmpl[] = "/tmp/imageinit-bench.XXXXXX";
        if (!::mkdtemp(tmpl)) return;
        dir = tmpl;
        std::string tree = dir + "/tree";
        std::string cmd = "set -e; cd " + dir +
                          "; mkdir -p tree/etc tree/tmp tree/srv tree/var/lib/test "
                          "tree/var/lib/slotconf tree/sbin mnt persist store root; "
                          "echo hello > tree/etc/hostname; echo seed > tree/var/lib/test/seed; "
                          "mksquashfs tree squashfs.img -quiet -noappend -comp zstd >/dev/null; "
                          "mkfs.erofs --quiet -zlz4hc erofs.img tree >/dev/null; "
                          "mkfs.ext4 -q -b 4096 -O ^has_journal -d tree ext4.img 8M >/dev/null";
        ok = ::system(cmd.c_str()) == 0;
    }
    ~Images() {
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
};

Images& images() {
    static Images i;
    return i;
}

bool can_mount(benchmark::State& state) {
    if (::geteuid() != 0) {
        state.SkipWithError("needs root (loop devices, mounts)");
        return false;
    }
    if (!images().ok) {
        state.SkipWithError("building the images failed (mksquashfs, mkfs.erofs, mkfs.ext4?)");
        return false;
    }
    return true;
}

const char* kTypes[] = {"squashfs", "erofs", "ext4"};

void BM_LoopAttachMount(benchmark::State& state) {
    if (!can_mount(state)) return;
    std::string type = kTypes[state.range(0)];
    state.SetLabel(type);
    std::string img = images().dir + "/" + type + ".img", mnt = images().dir + "/mnt";
    for (auto _ : state) {
        auto loop = os::attach_loop(img);
        if (!loop) {
            state.SkipWithError(loop.error().message.c_str());
            break;
        }
        auto m = os::mount(loop->path, mnt, type, MS_RDONLY | MS_NODEV | MS_NOSUID, "");
        if (!m) {
            state.SkipWithError(m.error().message.c_str());
            break;
        }
        state.PauseTiming();
        loop->fd.reset();  // autoclear: the device goes with the unmount
        (void)os::umount(mnt, 0);
        state.ResumeTiming();
    }
}
BENCHMARK(BM_LoopAttachMount)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ApplyPlan(benchmark::State& state) {
    if (!can_mount(state)) return;
    std::string d = images().dir;
    auto spec = core::parse_mount_spec(kSpec, "fstab");
    auto plan = spec ? core::plan_mounts(*spec, core::PlanContext{"a", true})
                     : Result<core::MountPlan>(fail(EINVAL, "spec"));
    auto loop = os::attach_loop(d + "/squashfs.img");
    bool ready = plan && loop && os::mount(loop->path, d + "/root", "squashfs", MS_RDONLY, "") &&
                 os::mount("tmpfs", d + "/persist", "tmpfs", 0, "mode=0755") &&
                 os::mount("tmpfs", d + "/store", "tmpfs", 0, "mode=0700");
    if (!ready) {
        state.SkipWithError("setup failed (spec, loop device or mounts)");
        return;
    }
    boot::RealPlatform platform(nullptr, nullptr);
    auto root = platform.files().open_dir(d + "/root");
    auto persist = platform.files().open_dir(d + "/persist");
    auto store = platform.files().open_dir(d + "/store");
    if (!root || !persist || !store) {
        state.SkipWithError("open_dir failed");
        return;
    }
    boot::ApplyContext ctx{&*root, &*persist, &*store, "fstab", false};
    for (auto _ : state) {
        std::vector<boot::Undo> undo;
        auto applied = boot::apply_plan(platform.seams(), *plan, ctx, undo);
        if (!applied) {
            state.SkipWithError(applied.error().message.c_str());
            break;
        }
        state.PauseTiming();
        while (!undo.empty()) undo.pop_back();  // last mount first, as a slot unwinds
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(plan->mounts.size()));
    (void)os::umount(d + "/root", MNT_DETACH);
    (void)os::umount(d + "/persist", MNT_DETACH);
    (void)os::umount(d + "/store", MNT_DETACH);
}
BENCHMARK(BM_ApplyPlan)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace imageinit
