// The dm-verity step of a slot attempt (see integrity.h).
#include "boot/integrity.h"

#include "boot/boot_sequence.h"
#include "boot/signature_check.h"

namespace imageinit::boot {
namespace {

constexpr size_t kMaxRootHashFile = 1024;

// Relative to the state partition's root.
std::string sidecar_rel(const std::string& slot, const char* ext) {
    return "slots/" + slot + ".img" + ext;
}

std::string sidecar(const std::string& slot, const char* ext) {
    return std::string(paths::kStateMount) + "/" + sidecar_rel(slot, ext);
}

}  // namespace

std::string verity_name(const std::string& slot) { return "imageinit-verity-" + slot; }

bool has_verity_data(RootFs& files, const core::BootConfig& cfg, const std::string& slot) {
    return cfg.roothash.count(slot) || files.file_exists(sidecar(slot, ".verity")) ||
           files.file_exists(sidecar(slot, ".roothash"));
}

Result<AttachedImage> open_slot_verity(RootFs& files, Integrity& integrity,
                                       const core::BootConfig& cfg, const std::string& slot,
                                       const std::string& device, const Dir& state_root,
                                       std::string* roothash_out) {
    std::string tree = sidecar(slot, ".verity");
    std::string hash_file = sidecar(slot, ".roothash");
    // Here without verity data only when signatures are required: that refuses the slot.
    if (!has_verity_data(files, cfg, slot)) {
        TRY(check_slot_signature(files, slot, "", state_root));
        return fail(EKEYREJECTED, "slot " + slot + " has no verity data");  // defensive
    }
    if (!files.file_exists(tree))
        return fail(ENOENT, "slot " + slot + " has verity data but no hash tree '" + tree + "'");
    std::string roothash, from;
    if (auto pinned = cfg.roothash.find(slot); pinned != cfg.roothash.end()) {
        roothash = pinned->second;
        from = "imageinit.roothash." + slot;
    } else {
        auto text =
            files.read_on_partition(state_root, sidecar_rel(slot, ".roothash"), kMaxRootHashFile);
        if (!text)
            return fail(text.error().code, "no root hash for slot " + slot + " (" +
                                               text.error().message +
                                               ", and no imageinit.roothash." + slot + ")");
        roothash = *text;
        from = "'" + hash_file + "'";
    }
    std::string signed_by = TRY(check_slot_signature(files, slot, roothash, state_root));
    AttachedImage out = TRY(integrity.open_verity(device, tree, roothash, verity_name(slot)));
    out.note = "dm-verity " + out.device + ", root hash from " + from;
    if (!signed_by.empty()) out.note += ", " + signed_by;
    if (roothash_out) *roothash_out = roothash;
    return out;
}

}  // namespace imageinit::boot
