// FakePlatform (see fake_platform.h): the in-memory model and the call log. Undo guards append
// their own entries ("umount X", "detach /dev/loopN"), so unwinding shows in the log; an unmount
// or detach that the real kernel would refuse as busy is marked "(BUSY: ...)" there.
#include "fake_platform.h"

#include <sys/mount.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include "boot/boot_sequence.h"
#include "core/boot_policy.h"

namespace imageinit::boot::testing {
namespace {

const std::string kNewRoot = paths::kNewRoot;
const std::string kState = paths::kStateMount;

bool under(const std::string& path, const std::string& dir) {
    return path == dir || path.starts_with(dir + "/");
}

std::string join(const std::string& base, const std::string& rel) {
    size_t i = 0;
    while (i < rel.size() && rel[i] == '/') ++i;
    if (i == rel.size()) return base;
    return base + (base.ends_with("/") ? "" : "/") + rel.substr(i);
}

Unexpected sys_error(const std::string& call, const std::string& path, int code) {
    return fail(code, call + " '" + path + "': " + std::strerror(code));
}

// "ro,nosuid,nodev" plus the filesystem data, as a mount(8) user would read it.
std::string options(unsigned long flags, const std::string& data) {
    static const std::pair<unsigned long, const char*> kNames[] = {
        {MS_RDONLY, "ro"},     {MS_NOSUID, "nosuid"},   {MS_NODEV, "nodev"},
        {MS_NOEXEC, "noexec"}, {MS_NOATIME, "noatime"}, {MS_RELATIME, "relatime"}};
    std::string out;
    for (const auto& [bit, name] : kNames) {
        if (!(flags & bit)) continue;
        out += (out.empty() ? "" : ",") + std::string(name);
        flags &= ~bit;
    }
    if (flags) out += (out.empty() ? "" : ",") + std::string("flags=") + std::to_string(flags);
    if (!data.empty()) out += (out.empty() ? "" : ",") + data;
    return out;
}

}  // namespace

FakeImage bootable_image(std::optional<std::string> fstab) {
    FakeImage image;
    image.dirs = {"/dev", "/proc", "/sys", "/run", "/etc", "/etc/ssh", "/var", "/tmp", "/sbin"};
    image.executables = {"/sbin/init"};
    image.fstab = std::move(fstab);
    return image;
}

void FakePlatform::add_device(FakeDevice device) { devices_.push_back(std::move(device)); }

void FakePlatform::add_image(const std::string& file_or_device, FakeImage image) {
    images_[file_or_device] = std::move(image);
    if (file_or_device.starts_with(kState + "/")) files_[file_or_device] = "(slot image)";
}

void FakePlatform::add_slot_file(const std::string& slot, FakeImage image) {
    add_image(kState + "/slots/" + slot + ".img", std::move(image));
}

void FakePlatform::put_file(const std::string& path, std::string content) {
    files_[path] = std::move(content);
}

void FakePlatform::fail_on(const std::string& op, const std::string& what, int code, int times) {
    failures_[{op, what}] = Failure{code, times};
}

std::vector<std::string> FakePlatform::mounted() const {
    std::vector<std::string> out;
    for (const auto& m : mounts_) out.push_back(m.target);
    return out;
}

std::vector<std::string> FakePlatform::attached() const {
    std::vector<std::string> out;
    for (const auto& [dev, file] : loops_) out.push_back(dev);
    return out;
}

std::vector<std::string> FakePlatform::written(const std::string& path) const {
    auto it = writes_.find(path);
    return it == writes_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> FakePlatform::file(const std::string& path) const {
    auto it = files_.find(path);
    if (it == files_.end()) return std::nullopt;
    return it->second;
}

void FakePlatform::map_device(const std::string& device, const std::string& under) {
    mapped_[device] = under;
}

std::string FakePlatform::backing(const std::string& device) const {
    auto mapped = mapped_.find(device);
    const std::string& dev = mapped != mapped_.end() ? mapped->second : device;
    auto loop = loops_.find(dev);
    return loop != loops_.end() ? loop->second : dev;
}

void FakePlatform::throw_on(const std::string& op, const std::string& what, bool bad_alloc) {
    failures_[{op, what}] =
        Failure{0, 1, bad_alloc ? Failure::Throw::kBadAlloc : Failure::Throw::kLengthError};
}

Result<void> FakePlatform::injected(const std::string& op, const std::string& what) {
    auto it = failures_.find({op, what});
    if (it == failures_.end() || it->second.times == 0) return ok();
    if (it->second.times > 0) --it->second.times;
    if (it->second.throws == Failure::Throw::kBadAlloc) throw std::bad_alloc();
    if (it->second.throws == Failure::Throw::kLengthError)
        throw std::length_error("basic_string::_M_create");
    return sys_error(op, what, it->second.code);
}

// Files of a partition are there only while it is mounted.
bool FakePlatform::visible(const std::string& path) const {
    for (const char* base : {paths::kStateMount, paths::kPersistMount, paths::kOverlayStore})
        if (under(path, base)) return mount_at(base) != nullptr;
    return true;
}

const FakePlatform::Mount* FakePlatform::mount_at(const std::string& target) const {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it)
        if (it->target == target) return &*it;
    return nullptr;
}

const FakeImage* FakePlatform::image_at_new_root() const {
    const Mount* m = mount_at(kNewRoot);
    if (!m) return nullptr;
    auto image = images_.find(backing(m->source));
    return image == images_.end() ? nullptr : &image->second;
}

FakePlatform::Kind FakePlatform::kind_of(const std::string& path) const {
    if (!visible(path)) return Kind::kNone;
    if (!under(path, kNewRoot)) {
        if (dirs_.count(path) || mount_at(path)) return Kind::kDir;
        return files_.count(path) ? Kind::kFile : Kind::kNone;
    }
    const FakeImage* image = image_at_new_root();
    if (!image) return Kind::kNone;
    // A fresh tmpfs mounted inside the new root hides the image's content below it.
    for (const auto& m : mounts_)
        if (m.fstype == "tmpfs" && m.target != path && under(path, m.target) &&
            under(m.target, kNewRoot))
            return Kind::kNone;
    std::string inner = path.size() == kNewRoot.size() ? "/" : path.substr(kNewRoot.size());
    if (inner == "/" || image->dirs.count(inner)) return Kind::kDir;
    if (image->executables.count(inner)) return Kind::kExecutable;
    if (image->files.count(inner) || image->contents.count(inner) ||
        (inner == "/etc/imageinit/fstab" && image->fstab))
        return Kind::kFile;
    return Kind::kNone;
}

Result<std::vector<std::string>> FakePlatform::find_devices(const std::string& spec) {
    TRY(injected("find", spec));
    std::vector<std::string> out;
    for (const auto& d : devices_) {
        bool match = d.name == spec || std::count(d.specs.begin(), d.specs.end(), spec);
        if (match && d.appears_at <= now_) out.push_back(d.name);
    }
    return out;
}

Result<std::string> FakePlatform::whole_disk_of(const std::string& device) {
    for (const auto& d : devices_)
        if (d.name == device && d.appears_at <= now_) return d.disk;
    return sys_error("whole disk of", device, ENODEV);
}

Result<void> FakePlatform::wait_until(const std::function<bool()>& ready,
                                      Clock::time_point deadline, const std::string& what) {
    waits_.emplace_back(what, deadline);
    for (;;) {
        if (ready()) return ok();
        std::optional<Clock::time_point> next;
        for (const auto& d : devices_)
            if (d.appears_at > now_ && (!next || d.appears_at < *next)) next = d.appears_at;
        if (!next || *next > deadline) {
            now_ = std::max(now_, deadline);
            return sys_error("wait for device", what, ETIMEDOUT);
        }
        now_ = *next;
    }
}

Result<std::string> FakePlatform::probe_fstype(const std::string& device_or_file) {
    TRY(injected("probe", device_or_file));
    std::string under = backing(device_or_file);
    auto image = images_.find(under);
    if (image != images_.end()) return image->second.fstype;
    for (const auto& d : devices_)
        if (d.name == under && d.appears_at <= now_) return d.fstype;
    return sys_error("probe", device_or_file, ENOENT);
}

bool FakePlatform::file_exists(const std::string& path) {
    (void)injected("exists", path);  // only throw_on reaches the caller from here
    return kind_of(path) == Kind::kFile || kind_of(path) == Kind::kExecutable;
}

Result<AttachedImage> FakePlatform::attach_loop(const std::string& file) {
    TRY(injected("attach", file));
    if (!file_exists(file)) return sys_error("open", file, ENOENT);
    int n = 0;  // LOOP_CTL_GET_FREE hands out the lowest free device
    while (loops_.count("/dev/loop" + std::to_string(n))) ++n;
    std::string dev = "/dev/loop" + std::to_string(n);
    loops_[dev] = file;
    log_.push_back("attach " + dev + " to " + file);
    return AttachedImage{
        dev, Undo([this, dev] {
            bool busy = std::any_of(mounts_.begin(), mounts_.end(),
                                    [&](const Mount& m) { return m.source == dev; });
            log_.push_back("detach " + dev + (busy ? " (BUSY: still mounted)" : ""));
            loops_.erase(dev);
        })};
}

Result<Dir> FakePlatform::open_dir(const std::string& path) {
    TRY(injected("open", path));
    if (kind_of(path) != Kind::kDir) return sys_error("open", path, ENOENT);
    return Dir{UniqueFd(), path};
}

Result<Dir> FakePlatform::open_in_root(const Dir& root, const std::string& path, bool want_dir) {
    std::string full = join(root.path, path);
    TRY(injected("open", full));
    Kind kind = kind_of(full);
    if (kind == Kind::kNone) return sys_error("openat2", full, ENOENT);
    if (want_dir && kind != Kind::kDir) return sys_error("openat2", full, ENOTDIR);
    return Dir{UniqueFd(), full};
}

Result<Dir> FakePlatform::open_mount_point(const Dir& root, const std::string& path) {
    Dir dir = TRY(open_in_root(root, path, true));
    auto link = landings_.find(dir.path);
    std::string landed = link == landings_.end() ? dir.path : link->second;
    TRY(core::check_landing(path, root.path, landed));
    return dir;
}

Result<void> FakePlatform::check_executable(const Dir& root, const std::string& path) {
    Dir f = TRY(open_in_root(root, path, false));
    Kind kind = kind_of(f.path);
    if (kind == Kind::kDir) return fail(EACCES, "'" + path + "' is not a regular file");
    if (kind != Kind::kExecutable) return fail(EACCES, "'" + path + "' is not executable");
    return ok();
}

Result<std::string> FakePlatform::read_in_root(const Dir& root, const std::string& path,
                                               size_t max_bytes) {
    std::string full = join(root.path, path);
    TRY(injected("read", full));
    if (under(full, kNewRoot)) {
        const FakeImage* image = image_at_new_root();
        if (image && image->fstab && full == kNewRoot + "/etc/imageinit/fstab")
            return image->fstab->substr(0, max_bytes);
        if (image && image->contents.count(full.substr(kNewRoot.size())))
            return image->contents.at(full.substr(kNewRoot.size())).substr(0, max_bytes);
        return sys_error("openat2", full, ENOENT);
    }
    return read_file(full, max_bytes);
}

Result<std::string> FakePlatform::read_on_partition(const Dir& root, const std::string& rel,
                                                    size_t max_bytes) {
    return read_file(join(root.path, rel), max_bytes);
}

Result<Dir> FakePlatform::make_dirs(const Dir& base, const std::string& rel) {
    std::string full = join(base.path, rel);
    TRY(injected("mkdir", full));
    if (!visible(full) || kind_of(base.path) != Kind::kDir) return sys_error("mkdir", full, ENOENT);
    dirs_.insert(full);
    return Dir{UniqueFd(), full};
}

Result<Dir> FakePlatform::make_persist_dir(const Dir& persist_root, const std::string& rel,
                                           const Dir* seed) {
    std::string full = join(persist_root.path, rel);
    bool existed = kind_of(full) == Kind::kDir;
    Dir dir = TRY(make_dirs(persist_root, rel));
    if (!existed && seed) log_.push_back("seed " + full + " from " + seed->path);
    return dir;
}

Result<std::string> FakePlatform::read_file(const std::string& path, size_t max_bytes) {
    TRY(injected("read", path));
    auto it = files_.find(path);
    if (!visible(path) || it == files_.end()) return sys_error("open", path, ENOENT);
    return it->second.substr(0, max_bytes);
}

void FakePlatform::write(const std::string& path, const std::string& shown,
                         const std::string& content) {
    log_.push_back("write " + shown);
    files_[path] = content;
    writes_[path].push_back(content);
}

Result<void> FakePlatform::write_file_atomic(const Dir& dir, const std::string& name,
                                             const std::string& content) {
    std::string full = join(dir.path, name);
    std::string shown = under(full, kState) ? full.substr(kState.size() + 1) : full;
    TRY(injected("write", shown));
    if (!visible(full)) return sys_error("open", full, ENOENT);
    write(full, shown, content);
    return ok();
}

Result<void> FakePlatform::write_file(const std::string& path, const std::string& content) {
    TRY(injected("write", path));
    write(path, path, content);
    return ok();
}

Result<Undo> FakePlatform::add_mount(Mount m, std::string entry) {
    TRY(injected("mount", m.target));
    std::string target = m.target;
    mounts_.push_back(std::move(m));
    dirs_.insert(target);
    log_.push_back(std::move(entry));
    return Undo([this, target] { unmount(target); });
}

void FakePlatform::unmount(const std::string& target) {
    std::string busy;
    for (const auto& m : mounts_)
        if (m.target != target && under(m.target, target)) busy = m.target;
    log_.push_back("umount " + target + (busy.empty() ? "" : " (BUSY: " + busy + " below)"));
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
        if (it->target == target) {
            mounts_.erase(std::next(it).base());
            return;
        }
    }
}

Result<Undo> FakePlatform::mount_path(const std::string& source, const std::string& target,
                                      const std::string& fstype, unsigned long flags,
                                      const std::string& data) {
    std::string opts = options(flags, data);
    return add_mount({target, source, fstype}, "mount " + source + " on " + target + " (" + fstype +
                                                   (opts.empty() ? "" : ", " + opts) + ")");
}

Result<Undo> FakePlatform::mount_on(const std::string& source, const Dir& target,
                                    const std::string& fstype, unsigned long flags,
                                    const std::string& data) {
    return mount_path(source, target.path, fstype, flags, data);
}

Result<Undo> FakePlatform::mount_overlay(const Dir& lower, const Dir& upper, const Dir& work,
                                         const Dir& target, unsigned long flags,
                                         const std::string& extra) {
    std::string opts = options(flags, extra);
    std::string lower_note = lower.path == target.path ? "" : "lower " + lower.path + ", ";
    (void)work;
    return add_mount({target.path, "overlay", "overlay"},
                     "overlay on " + target.path + " (" + lower_note + "upper " + upper.path +
                         (opts.empty() ? "" : ", " + opts) + ")");
}

Result<Undo> FakePlatform::bind(const Dir& source, const Dir& target, unsigned long flags) {
    std::string opts = options(flags, "");
    return add_mount(
        {target.path, source.path, "none"},
        "bind " + source.path + " on " + target.path + (opts.empty() ? "" : " (" + opts + ")"));
}

}  // namespace imageinit::boot::testing
