// libblkid without a cache: every lookup probes every block device in /sys/class/block afresh,
// so all matches are seen (duplicate labels are a policy decision, not libblkid's first hit).
#include "os/blkid.h"

#include <blkid/blkid.h>
#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <set>

#include "base/c_handle.h"
#include "os/files.h"

namespace imageinit::os {
namespace {

using Probe = CHandle<blkid_struct_probe, blkid_free_probe>;

struct Spec {
    std::string tag;    // "LABEL", "UUID", "PARTLABEL", "PARTUUID"
    std::string value;  // without quotes
};

Result<Spec> parse_spec(const std::string& spec) {
    auto eq = spec.find('=');
    if (eq == std::string::npos) return fail(EINVAL, "bad device spec '" + spec + "'");
    Spec s{spec.substr(0, eq), spec.substr(eq + 1)};
    if (s.value.size() >= 2 && (s.value.front() == '"' || s.value.front() == '\'') &&
        s.value.back() == s.value.front())
        s.value = s.value.substr(1, s.value.size() - 2);
    if (s.tag != "LABEL" && s.tag != "UUID" && s.tag != "PARTLABEL" && s.tag != "PARTUUID")
        return fail(EINVAL, "bad device spec '" + spec +
                                "': want LABEL=, UUID=, PARTLABEL=, "
                                "PARTUUID= or /dev/...");
    if (s.value.empty()) return fail(EINVAL, "bad device spec '" + spec + "': empty value");
    return s;
}

// The value name in libblkid's probe results for each spec tag. PARTLABEL/PARTUUID come from
// the partition table of the parent disk (BLKID_PARTS_ENTRY_DETAILS), not from the filesystem.
const char* probe_key(const std::string& tag) {
    if (tag == "LABEL") return "LABEL";
    if (tag == "UUID") return "UUID";
    if (tag == "PARTLABEL") return "PART_ENTRY_NAME";
    return "PART_ENTRY_UUID";
}

// Whether one device carries the spec's value. Unreadable devices simply do not match (an empty
// card reader or a device going away is not an error for a scan).
bool probe_has_value(const std::string& dev, const Spec& spec) {
    Probe pr(blkid_new_probe_from_filename(dev.c_str()));
    if (!pr) return false;
    bool partition = spec.tag == "PARTLABEL" || spec.tag == "PARTUUID";
    if (partition) {
        blkid_probe_enable_superblocks(pr.get(), 0);
        blkid_probe_enable_partitions(pr.get(), 1);
        blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_ENTRY_DETAILS);
    } else {
        blkid_probe_enable_superblocks(pr.get(), 1);
        blkid_probe_set_superblocks_flags(
            pr.get(), BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
    }
    // safeprobe: a device with two conflicting superblocks matches nothing (as blkid(8) does).
    if (blkid_do_safeprobe(pr.get()) != 0) return false;
    const char* value = nullptr;
    if (blkid_probe_lookup_value(pr.get(), probe_key(spec.tag), &value, nullptr) != 0 || !value)
        return false;
    if (spec.tag == "UUID" || spec.tag == "PARTUUID")
        return strcasecmp(value, spec.value.c_str()) == 0;
    return spec.value == value;
}

// /dev name of a /sys/class/block entry: sysfs writes '/' in names as '!' ("cciss!c0d0").
std::string dev_node_of(std::string sys_name) {
    std::replace(sys_name.begin(), sys_name.end(), '!', '/');
    return "/dev/" + sys_name;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// What sysfs says of one block device: its resolved directory (.../block/vda/vda2 for a
// partition, inside its disk's) and whether it is a partition. SYS_LINK is a /sys/class/block
// or /sys/dev/block entry.
struct SysBlock {
    std::string dir;
    bool partition = false;
};

Result<SysBlock> resolve_sys_block(const std::string& sys_link) {
    char real[PATH_MAX];
    if (!::realpath(sys_link.c_str(), real)) return fail_errno("realpath", sys_link);
    SysBlock b{real};
    struct stat st;
    if (::stat((b.dir + "/partition").c_str(), &st) == 0) {
        b.partition = true;
    } else if (errno != ENOENT) {
        return fail_errno("stat", b.dir + "/partition");
    }
    return b;
}

// The sysfs directory of the disk that holds a partition.
std::string disk_dir_of(const SysBlock& partition) {
    return partition.dir.substr(0, partition.dir.rfind('/'));
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ", ";
        out += s;
    }
    return out;
}

}  // namespace

Result<std::string> probe_fstype(const std::string& device_or_file) {
    errno = 0;
    Probe pr(blkid_new_probe_from_filename(device_or_file.c_str()));
    if (!pr) {
        if (errno == 0) errno = EIO;
        return fail_errno("blkid probe", device_or_file);
    }
    blkid_probe_enable_superblocks(pr.get(), 1);
    blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_TYPE);
    int rc = blkid_do_safeprobe(pr.get());
    if (rc == -2)
        return fail(EINVAL, "blkid probe '" + device_or_file +
                                "': several filesystem signatures, refusing to guess");
    if (rc < 0) {
        if (errno == 0) errno = EIO;
        return fail_errno("blkid probe", device_or_file);
    }
    const char* type = nullptr;
    if (rc == 1 || blkid_probe_lookup_value(pr.get(), "TYPE", &type, nullptr) != 0 || !type)
        return fail(EINVAL, "blkid probe '" + device_or_file + "': no filesystem found");
    return std::string(type);
}

Result<DeviceIdentity> probe_identity(const std::string& device) {
    errno = 0;
    Probe pr(blkid_new_probe_from_filename(device.c_str()));
    if (!pr) {
        if (errno == 0) errno = EIO;
        return fail_errno("blkid probe", device);
    }
    blkid_probe_enable_superblocks(pr.get(), 1);
    blkid_probe_set_superblocks_flags(pr.get(),
                                      BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID);
    blkid_probe_enable_partitions(pr.get(), 1);
    blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_ENTRY_DETAILS);
    int rc = blkid_do_safeprobe(pr.get());
    if (rc == -2)
        return fail(EINVAL, "blkid probe '" + device +
                                "': several filesystem signatures, refusing to guess");
    if (rc < 0) {
        if (errno == 0) errno = EIO;
        return fail_errno("blkid probe", device);
    }
    DeviceIdentity id;
    auto value = [&](const char* name) {
        const char* v = nullptr;
        return blkid_probe_lookup_value(pr.get(), name, &v, nullptr) == 0 && v ? std::string(v)
                                                                               : std::string();
    };
    id.fstype = value("TYPE");
    id.label = value("LABEL");
    id.uuid = value("UUID");
    id.partuuid = value("PART_ENTRY_UUID");
    return id;
}

Result<std::vector<std::string>> find_devices(const std::string& spec) {
    std::vector<std::string> found;
    if (spec.starts_with("/")) {
        struct stat st;
        if (::stat(spec.c_str(), &st) == 0) found.push_back(spec);
        return found;
    }
    Spec s = TRY(parse_spec(spec));

    DIR* dir = ::opendir("/sys/class/block");
    if (!dir) return fail_errno("opendir", "/sys/class/block");
    CHandle<DIR, ::closedir> dir_owner(dir);
    std::vector<std::string> names;
    while (struct dirent* de = ::readdir(dir)) {
        if (de->d_name[0] == '.') continue;
        names.emplace_back(de->d_name);
    }
    std::sort(names.begin(), names.end());  // stable order for messages and tests

    // A whole disk with a partition table holds no filesystem of its own: skip it, as
    // libblkid's own device scan does. Probing is the slow part of waiting for a device (every
    // superblock type reads its own offsets), and the disk is the largest device to probe.
    std::set<std::string> partitioned;
    for (const auto& name : names) {
        auto b = resolve_sys_block("/sys/class/block/" + name);
        if (!b || !b->partition) continue;
        std::string disk = disk_dir_of(*b);
        partitioned.insert(disk.substr(disk.rfind('/') + 1));
    }

    for (const auto& name : names) {
        if (partitioned.contains(name)) continue;
        // Unbound loop devices and empty drives have size 0: nothing to probe, and opening
        // some of them (floppies, CD-ROMs) is slow.
        auto size = read_file("/sys/class/block/" + name + "/size", 64);
        if (!size || trim(*size) == "0") continue;
        std::string node = dev_node_of(name);
        if (probe_has_value(node, s)) found.push_back(node);
    }
    return found;
}

Result<std::string> whole_disk_of(const std::string& device) {
    // By device number, so any name for the node (/dev/disk/by-label/..., a symlink) works.
    struct stat st;
    if (::stat(device.c_str(), &st) < 0) return fail_errno("stat", device);
    if (!S_ISBLK(st.st_mode)) return fail(ENOTBLK, "'" + device + "' is not a block device");
    std::string sys = "/sys/dev/block/" + std::to_string(major(st.st_rdev)) + ":" +
                      std::to_string(minor(st.st_rdev));
    SysBlock b = TRY(resolve_sys_block(sys));
    if (!b.partition) return device;  // already a whole disk
    std::string parent = disk_dir_of(b);
    auto uevent = TRY(read_file(parent + "/uevent", 4096));
    auto pos = uevent.find("DEVNAME=");
    if (pos != std::string::npos) {
        auto end = uevent.find('\n', pos);
        return "/dev/" + uevent.substr(pos + 8, end == std::string::npos ? end : end - pos - 8);
    }
    return dev_node_of(parent.substr(parent.rfind('/') + 1));
}

Result<DevicePick> pick_device(const std::string& spec, const std::vector<std::string>& candidates,
                               const std::vector<std::string>& candidate_disks,
                               const std::string& preferred_disk) {
    if (candidates.empty()) return fail(ENODEV, "'" + spec + "' matches no device");
    if (candidates.size() == 1) return DevicePick{candidates[0], {}};

    std::vector<std::string> on_disk;
    std::vector<std::string> others;
    for (size_t i = 0; i < candidates.size(); ++i) {
        bool same = !preferred_disk.empty() && i < candidate_disks.size() &&
                    candidate_disks[i] == preferred_disk;
        (same ? on_disk : others).push_back(candidates[i]);
    }
    if (preferred_disk.empty())
        return fail(EEXIST, "'" + spec + "' matches " + join(candidates) +
                                " and there is no state disk to prefer: refusing to guess");
    if (on_disk.empty())
        return fail(EEXIST, "'" + spec + "' matches " + join(candidates) +
                                " and none is on the state disk " + preferred_disk +
                                ": refusing to guess");
    if (on_disk.size() > 1)
        return fail(EEXIST, "'" + spec + "' matches " + join(on_disk) + " on the state disk " +
                                preferred_disk + ": refusing to guess");
    return DevicePick{on_disk[0], others};
}

}  // namespace imageinit::os
