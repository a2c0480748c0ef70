// Reading and writing slots/NAME.img.source; the format itself lives in core/slot_source.h.
#include "cli/slot_sources.h"

#include <fcntl.h>
#include <unistd.h>

#include "os/atomic_file.h"
#include "os/files.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

constexpr size_t kMaxSidecar = 4096;

std::string file_name(const std::string& slot) { return slot + ".img.source"; }

}  // namespace

std::optional<core::SlotSource> load_slot_source(const std::string& slots_dir,
                                                 const std::string& slot) {
    // On the state partition: never blocking on a fifo, never following a planted symlink.
    auto dir = os::open_checked(AT_FDCWD, slots_dir, os::Scope::kHost, os::Want::kDir, O_PATH);
    if (!dir) return std::nullopt;
    auto text = os::read_checked(dir->get(), file_name(slot), os::Scope::kPartition, kMaxSidecar);
    if (!text) return std::nullopt;
    return core::parse_slot_source(*text);
}

Result<void> store_slot_source(const std::string& slots_dir, const std::string& slot,
                               const core::SlotSource& source) {
    UniqueFd dir = TRY(os::open_dir(slots_dir));
    return os::write_file_atomic(dir.get(), file_name(slot), core::format_slot_source(source));
}

Result<void> remove_slot_source(const std::string& slots_dir, const std::string& slot) {
    std::string path = slots_dir + "/" + file_name(slot);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("unlink", path);
    return ok();
}

}  // namespace imageinit::cli
