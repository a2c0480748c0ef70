// The boot-state record update: encode a record with a full journal and replace the file
// atomically (tmp, fsync, rename, fsync dir) in IMAGEINIT_BENCH_DIR (default /var/tmp). The
// figure is dominated by the two fsyncs, so it says more about the disk than about the code.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "base/unique_fd.h"
#include "core/boot_record.h"
#include "os/atomic_file.h"

namespace imageinit {
namespace {

core::BootRecord full_record() {
    core::BootRecord r = core::default_record();
    r.slots["b"] = core::SlotState{core::SlotHealth::kTrying, 2, ""};
    for (uint64_t i = 0; i < core::kJournalMax; ++i)
        core::append_journal(r, core::JournalEntry{i, i % 2 ? "a" : "b", "attempt", "", "", 812});
    r.boot_count = core::kJournalMax;
    return r;
}

void BM_EncodeRecord(benchmark::State& state) {
    core::BootRecord r = full_record();
    for (auto _ : state) benchmark::DoNotOptimize(core::encode_record(r));
}
BENCHMARK(BM_EncodeRecord);

void BM_RecordUpdateFsync(benchmark::State& state) {
    const char* env = ::getenv("IMAGEINIT_BENCH_DIR");
    std::string tmpl = std::string(env ? env : "/var/tmp") + "/imageinit-bench.XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
        state.SkipWithError("mkdtemp failed");
        return;
    }
    UniqueFd dir(::open(tmpl.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    core::BootRecord r = full_record();
    for (auto _ : state) {
        ++r.boot_count;  // a different record each time, as on a real boot
        auto w = os::write_file_atomic(dir.get(), "state", core::encode_record(r));
        if (!w) state.SkipWithError(w.error().message.c_str());
    }
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
}
BENCHMARK(BM_RecordUpdateFsync)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace imageinit
