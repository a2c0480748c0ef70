// FakePlatform: boot::Platform over an in-memory model of devices, the state partition and slot
// images, with injectable failures, a fake clock, and an ordered log of every mount, unmount,
// loop attach/detach and write, so unit tests can assert the exact sequence of a boot.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "boot/seams.h"
#include "fake_seams.h"

namespace imageinit::boot::testing {

// The content of a slot image (paths absolute inside the image).
struct FakeImage {
    std::string fstype = "erofs";
    std::set<std::string> dirs;
    std::set<std::string> files;        // regular files without an execute bit
    std::set<std::string> executables;  // regular files with one
    std::optional<std::string> fstab;   // /etc/imageinit/fstab; nullopt: the image has none
    std::map<std::string, std::string> contents;  // more regular files, with what they hold
};

// /dev /proc /sys /run /etc /etc/ssh /var /tmp and an executable /sbin/init.
FakeImage bootable_image(std::optional<std::string> fstab = std::nullopt);

struct FakeDevice {
    std::string name;                // "/dev/sda1"
    std::vector<std::string> specs;  // what it matches besides its name: "LABEL=STATE", ...
    std::string fstype = "ext4";
    std::string disk;                // its whole disk, "/dev/sda"
    Clock::time_point appears_at{};  // find_devices sees it from this (fake) time on
};

// Devices, RootFs and Mounts share one model (a mount changes which files are visible), so one
// class fakes those three; the other seams are the small fakes of fake_seams.h, owned here.
class FakePlatform : public Devices, public RootFs, public Mounts {
  public:
    FakePlatform() = default;
    FakePlatform(const FakePlatform&) = delete;
    FakePlatform& operator=(const FakePlatform&) = delete;

    // --- the model
    void add_device(FakeDevice device);
    // A slot image: FILE_OR_DEVICE is a file on the state partition or a partition's device.
    void add_image(const std::string& file_or_device, FakeImage image);
    // slots/SLOT.img on the state partition.
    void add_slot_file(const std::string& slot, FakeImage image);
    void put_file(const std::string& path, std::string content);
    // Makes the next TIMES calls of OP on WHAT fail with CODE (TIMES < 0: every call). OP and
    // WHAT: "find" spec, "probe" device, "attach" file, "mount" target, "write" path as logged
    // ("imageinit/state" for the record), "mkdir" path, "read" path, "open" path; "exists"
    // path only with throw_on (file_exists cannot fail).
    void fail_on(const std::string& op, const std::string& what, int code, int times = -1);
    // Makes the next call of OP on WHAT throw std::length_error (what a hostile size does to a
    // std::string), or std::bad_alloc with BAD_ALLOC: an exception escaping a step.
    void throw_on(const std::string& op, const std::string& what, bool bad_alloc = false);

    // Every seam of a boot, for BootSequence.
    Platform seams() { return Platform{*this, *this, *this, integrity, kexec, processes}; }
    FakeIntegrity integrity{*this};
    FakeKexec kexec{*this};
    FakeProcesses processes{*this};
    // A stacked device (dm-verity, dm-crypt): DEVICE holds what UNDER holds, and the log says so.
    void map_device(const std::string& device, const std::string& under);
    // A symlink inside a root sends the directory FULL (a path under it) to LANDED instead;
    // open_mount_point then applies core::check_landing as the real RootFs does.
    void land(const std::string& full, const std::string& landed) { landings_[full] = landed; }
    void note(std::string entry) { log_.push_back(std::move(entry)); }

    // --- what happened
    const std::vector<std::string>& log() const { return log_; }
    std::vector<std::string> mounted() const;                         // targets, oldest first
    std::vector<std::string> attached() const;                        // loop devices
    std::vector<std::string> written(const std::string& path) const;  // contents, in order
    std::optional<std::string> file(const std::string& path) const;
    // Deadlines passed to wait_until, with what was waited for.
    const std::vector<std::pair<std::string, Clock::time_point>>& waits() const { return waits_; }
    const std::vector<std::string>& modules() const { return modules_; }

    // The fake clock: only wait_until moves it (to a device's appearance or the deadline).
    Clock::time_point now() const { return now_; }

    // --- the seams
    Result<std::vector<std::string>> find_devices(const std::string& spec) override;
    Result<std::string> whole_disk_of(const std::string& device) override;
    Result<void> wait_until(const std::function<bool()>& ready, Clock::time_point deadline,
                            const std::string& what) override;
    Result<std::string> probe_fstype(const std::string& device_or_file) override;
    void load_module(const std::string& name) override { modules_.push_back(name); }

    bool file_exists(const std::string& path) override;
    Result<AttachedImage> attach_loop(const std::string& file) override;
    Result<Dir> open_dir(const std::string& path) override;
    Result<Dir> open_in_root(const Dir& root, const std::string& path, bool want_dir) override;
    Result<Dir> open_mount_point(const Dir& root, const std::string& path) override;
    Result<void> check_executable(const Dir& root, const std::string& path) override;
    Result<std::string> read_in_root(const Dir& root, const std::string& path,
                                     size_t max_bytes) override;
    Result<std::string> read_head_in_root(const Dir& root, const std::string& path,
                                          size_t max_bytes) override {
        return read_in_root(root, path, max_bytes);
    }
    Result<std::string> read_on_partition(const Dir& root, const std::string& rel,
                                          size_t max_bytes) override;
    Result<Dir> make_dirs(const Dir& base, const std::string& rel) override;
    Result<Dir> make_persist_dir(const Dir& persist_root, const std::string& rel,
                                 const Dir* seed) override;
    Result<std::string> read_file(const std::string& path, size_t max_bytes) override;
    Result<void> write_file_atomic(const Dir& dir, const std::string& name,
                                   const std::string& content) override;
    Result<void> write_file(const std::string& path, const std::string& content) override;

    Result<Undo> mount_path(const std::string& source, const std::string& target,
                            const std::string& fstype, unsigned long flags,
                            const std::string& data) override;
    Result<Undo> mount_on(const std::string& source, const Dir& target, const std::string& fstype,
                          unsigned long flags, const std::string& data) override;
    Result<Undo> mount_overlay(const Dir& lower, const Dir& upper, const Dir& work,
                               const Dir& target, unsigned long flags,
                               const std::string& options) override;
    Result<Undo> bind(const Dir& source, const Dir& target, unsigned long flags) override;

  private:
    struct Mount {
        std::string target, source, fstype;
    };
    struct Failure {
        int code;
        int times;
        enum class Throw { kNo, kLengthError, kBadAlloc } throws = Throw::kNo;
    };
    enum class Kind { kNone, kDir, kFile, kExecutable };

    Result<void> injected(const std::string& op, const std::string& what);
    bool visible(const std::string& path) const;
    const Mount* mount_at(const std::string& target) const;
    const FakeImage* image_at_new_root() const;
    Kind kind_of(const std::string& path) const;
    Result<Undo> add_mount(Mount m, std::string entry);
    void unmount(const std::string& target);
    void write(const std::string& path, const std::string& shown, const std::string& content);

    Clock::time_point now_{};
    std::vector<FakeDevice> devices_;
    std::map<std::string, FakeImage> images_;
    std::map<std::string, std::string> files_;
    std::set<std::string> dirs_;
    std::map<std::string, std::string> loops_;  // /dev/loopN -> backing file
    std::map<std::string, std::string> landings_;
    std::map<std::string, std::string> mapped_;            // /dev/mapper/NAME -> what it stacks on
    std::string backing(const std::string& device) const;  // through mappings and loops
    std::vector<Mount> mounts_;
    std::map<std::pair<std::string, std::string>, Failure> failures_;
    std::vector<std::string> log_;
    std::map<std::string, std::vector<std::string>> writes_;
    std::vector<std::pair<std::string, Clock::time_point>> waits_;
    std::vector<std::string> modules_;
};

}  // namespace imageinit::boot::testing
