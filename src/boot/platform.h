// The values the boot's seams trade in (Undo, Dir, AttachedImage) and boot::Platform, the six
// narrow seams of boot/seams.h borrowed together. RealPlatform (real_platform.h) owns the real
// ones over os::; the unit tests pass small fakes, so every step is reachable without root.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace imageinit::boot {

// Undoes one piece of kernel state (a mount, a loop device) when dropped, unless committed.
// Guards are kept in a stack per slot attempt, so a late failure unwinds in reverse order.
class Undo {
  public:
    Undo() = default;
    explicit Undo(std::function<void()> fn) : fn_(std::move(fn)) {}
    Undo(Undo&& o) noexcept : fn_(std::exchange(o.fn_, nullptr)) {}
    Undo& operator=(Undo&& o) noexcept {
        if (this != &o) {
            run();
            fn_ = std::exchange(o.fn_, nullptr);
        }
        return *this;
    }
    Undo(const Undo&) = delete;
    Undo& operator=(const Undo&) = delete;
    ~Undo() { run(); }
    void commit() { fn_ = nullptr; }
    void run() {
        if (fn_) std::exchange(fn_, nullptr)();
    }

  private:
    std::function<void()> fn_;
};

// Runs the guards last first: a vector destroys its elements first to last, which would detach
// a loop device under its mounted filesystem and unmount parents before their children.
inline void unwind(std::vector<Undo>& undo) {
    while (!undo.empty()) undo.pop_back();
}

// An open directory: an O_PATH fd (real platform) plus its path for messages and the log.
struct Dir {
    UniqueFd fd;
    std::string path;
};

struct AttachedImage {
    std::string device;  // /dev/loopN or the partition itself
    Undo undo;           // detaches the loop device (no-op for partitions)
    std::string note;    // how it was opened, for the log ("key file, key slot 1 (pbkdf2), 20 ms")
};

using Clock = std::chrono::steady_clock;

class Devices;
class RootFs;
class Mounts;
class Integrity;
class Kexec;
class Processes;

// What one boot uses, each seam borrowed: the caller owns them and they outlive the boot.
struct Platform {
    Devices& devices;
    RootFs& files;
    Mounts& mounts;
    Integrity& integrity;
    Kexec& kexec;
    Processes& processes;
};

}  // namespace imageinit::boot
