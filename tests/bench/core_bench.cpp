// Pure-core benchmarks: parsing a mount spec and planning its mounts, for specs of 10, 1,000
// and 100,000 entries (a realistic spec has under 20; the large ones show the scaling).
#include <benchmark/benchmark.h>

#include <string>

#include "core/mount_plan.h"
#include "core/mount_spec.h"

namespace imageinit::core {
namespace {

// One entry of each common kind in turn, every target and persistent path distinct.
std::string make_spec(int entries) {
    std::string text = "# generated benchmark spec\n";
    for (int i = 0; i < entries; ++i) {
        std::string n = std::to_string(i);
        switch (i % 4) {
            case 0:
                text += "tmpfs /run/t" + n + " tmpfs mode=1777,size=16m 0 0\n";
                break;
            case 1:
                text += "overlay /etc/o" + n + " overlay x-imageinit.upper=tmpfs 0 0\n";
                break;
            case 2:
                text += "persist:/var/lib/b" + n + " /var/lib/b" + n + " none bind 0 0\n";
                break;
            default:
                text += "persist:/srv/o" + n + " /srv/o" + n +
                        " overlay x-imageinit.upper=persist,x-imageinit.scope=slot 0 0\n";
        }
    }
    return text;
}

void BM_ParseMountSpec(benchmark::State& state) {
    std::string text = make_spec(static_cast<int>(state.range(0)));
    for (auto _ : state) {
        auto spec = parse_mount_spec(text, "fstab");
        if (!spec) state.SkipWithError(spec.error().message.c_str());
        benchmark::DoNotOptimize(spec);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseMountSpec)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_PlanMounts(benchmark::State& state) {
    auto spec = parse_mount_spec(make_spec(static_cast<int>(state.range(0))), "fstab");
    if (!spec) {
        state.SkipWithError(spec.error().message.c_str());
        return;
    }
    PlanContext ctx;
    for (auto _ : state) {
        auto plan = plan_mounts(*spec, ctx);
        if (!plan) state.SkipWithError(plan.error().message.c_str());
        benchmark::DoNotOptimize(plan);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PlanMounts)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace imageinit::core
