// Shared set-up for the boot sequence tests: a disk /dev/sda with the state and persistent
// partitions, slot images on the state partition, and a BootSequence over a FakePlatform.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "boot/boot_sequence.h"
#include "core/boot_record.h"
#include "fake_platform.h"

// EXPECT_HAS(haystack, needle): the string contains the substring (plain gtest, no gmock).
#define EXPECT_HAS(haystack, needle) \
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, std::string(needle), std::string(haystack))

namespace imageinit::boot::testing {

inline const std::string kRecordFile = "/run/imageinit/state/imageinit/state";
inline const std::string kStateLine =
    "mount /dev/sda1 on /run/imageinit/state (ext4, nosuid,nodev,noexec)";
inline const std::string kPersistLine =
    "mount /dev/sda2 on /run/imageinit/persist (ext4, nosuid,nodev)";
inline const std::string kOverlayStoreLine =
    "mount tmpfs on /run/imageinit/overlay (tmpfs, nosuid,nodev,mode=0700)";

// One entry of each kind but device; the nested bind comes first to show parents-first order.
inline const std::string kFullSpec =
    "persist:/etc/ssh /etc/ssh none bind\n"
    "tmpfs /tmp tmpfs mode=1777\n"
    "overlay /etc overlay x-imageinit.upper=tmpfs\n"
    "persist:/var /var overlay x-imageinit.upper=persist\n";

inline core::SlotState good() { return {core::SlotHealth::kGood, 0, ""}; }
inline core::SlotState trying(int n) { return {core::SlotHealth::kTrying, n, ""}; }
inline core::SlotState bad(std::string why) { return {core::SlotHealth::kBad, 0, std::move(why)}; }

inline core::BootRecord make_record(std::string primary,
                                    std::map<std::string, core::SlotState> slots) {
    core::BootRecord r;
    r.primary = std::move(primary);
    r.slots = std::move(slots);
    r.boot_count = 7;
    return r;
}

struct FakeBoot {
    FakePlatform fake;
    core::KernelCmdline cmdline;
    core::BootConfig& cfg = cmdline.boot;  // what the tests set
    StepRunner steps{[this] { return fake.now(); }};
    Clock::time_point start = fake.now();
    std::optional<BootSequence> seq;

    // With disks: /dev/sda1 LABEL=STATE and /dev/sda2 LABEL=PERSIST, both ext4 on /dev/sda.
    explicit FakeBoot(bool with_disks = true) {
        if (!with_disks) return;
        fake.add_device({"/dev/sda1", {"LABEL=STATE"}, "ext4", "/dev/sda"});
        fake.add_device({"/dev/sda2", {"LABEL=PERSIST"}, "ext4", "/dev/sda"});
    }

    void set_record(const core::BootRecord& r) {
        fake.put_file(kRecordFile, core::encode_record(r));
    }
    Result<Handover> run() {
        seq.emplace(fake.seams(), cmdline, steps, start);
        return seq->run();
    }
    const BootReport& report() const { return seq->report(); }

    // Every boot-state record written, decoded.
    std::vector<core::BootRecord> records() const {
        std::vector<core::BootRecord> out;
        for (const auto& bytes : fake.written(kRecordFile)) {
            auto r = core::decode_record(bytes);
            EXPECT_TRUE(r) << r.error().message;
            if (r) out.push_back(*r);
        }
        return out;
    }
};

// The log lines of one slot's mounts under the full spec, for an image on LOOP. Temporary
// overlay uppers live under the slot's own directory of the overlay store.
inline std::vector<std::string> full_spec_mounts(const std::string& loop, const std::string& fs,
                                                 const std::string& slot = "a") {
    return {
        "mount " + loop + " on /sysroot (" + fs + ", ro,nodev)",
        "mount tmpfs on /sysroot/tmp (tmpfs, nosuid,nodev,mode=1777)",
        "overlay on /sysroot/etc (upper /run/imageinit/overlay/" + slot + "/1/upper)",
        "overlay on /sysroot/var (upper /run/imageinit/persist/shared/var, nosuid,nodev)",
        "seed /run/imageinit/persist/shared/etc/ssh from /sysroot/etc/ssh",
        "bind /run/imageinit/persist/shared/etc/ssh on /sysroot/etc/ssh (nosuid,nodev)",
    };
}

// The same mounts undone, innermost first, then the loop device.
inline std::vector<std::string> full_spec_unwind(const std::string& loop) {
    return {"umount /sysroot/etc/ssh", "umount /sysroot/var", "umount /sysroot/etc",
            "umount /sysroot/tmp",     "umount /sysroot",     "detach " + loop};
}

inline std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts) {
    std::vector<std::string> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

}  // namespace imageinit::boot::testing
