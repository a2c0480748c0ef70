// Boot-state record I/O (see state_store.h).
#include "boot/state_store.h"

namespace imageinit::boot {

namespace {
constexpr const char* kStateDir = "imageinit";
}

LoadedRecord load_record(RootFs& p, const Dir& state_root) {
    LoadedRecord out;
    out.record = core::default_record();
    out.fresh = true;
    // On the partition's own terms: a symlink, fifo or device node at the record's place is an
    // unusable record (defaults and a warning below), never followed and never waited on.
    auto bytes =
        p.read_on_partition(state_root, std::string(core::kRecordPath), core::kRecordMaxBytes + 1);
    if (!bytes) {
        if (bytes.error().code == ENOENT) {
            out.first_boot = true;
            out.warning = "no boot-state record yet: first boot, starting with slot a as good";
            return out;
        }
        out.warning = "cannot read the boot-state record (" + bytes.error().message +
                      "): using defaults (primary a, a good)";
        return out;
    }
    auto decoded = core::decode_record(*bytes);
    if (!decoded) {
        out.warning = "boot-state record is unusable (" + decoded.error().message +
                      "): using defaults (primary a, a good); kept as imageinit/state.corrupt";
        auto dir = p.make_dirs(state_root, kStateDir);
        if (dir) (void)p.write_file_atomic(*dir, "state.corrupt", *bytes);
        return out;
    }
    out.record = std::move(*decoded);
    out.fresh = false;
    return out;
}

Result<void> store_record(RootFs& p, const Dir& state_root, const core::BootRecord& record) {
    Dir dir = TRY(p.make_dirs(state_root, kStateDir));
    return p.write_file_atomic(dir, "state", core::encode_record(record));
}

}  // namespace imageinit::boot
