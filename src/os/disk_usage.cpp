// Disk users from /proc/self/mountinfo, /proc/swaps and sysfs holders (see disk_usage.h).
#include "os/disk_usage.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace imageinit::os {
namespace {

std::string real(const std::string& path) {
    char* r = ::realpath(path.c_str(), nullptr);
    if (!r) return {};
    std::string out = r;
    ::free(r);
    return out;
}

std::string sys_path(dev_t dev) {
    return real("/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev)));
}

bool within(const std::string& path, const std::string& disk) {
    return !path.empty() && (path == disk || path.rfind(disk + "/", 0) == 0);
}

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
    return out;
}

}  // namespace

Result<std::vector<std::string>> disk_users(const std::string& device) {
    struct stat st;
    if (::stat(device.c_str(), &st) < 0) return fail_errno("stat", device);
    std::vector<std::string> users;
    if (!S_ISBLK(st.st_mode)) return users;
    std::string disk = sys_path(st.st_rdev);
    if (disk.empty()) return fail(ENODEV, "no sysfs entry for '" + device + "'");

    std::ifstream mi("/proc/self/mountinfo");
    if (!mi) return fail_errno("open", "/proc/self/mountinfo");
    for (std::string line; std::getline(mi, line);) {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        std::istringstream in(line);
        std::string id, parent, majmin, root, point;
        in >> id >> parent >> majmin >> root >> point;
        unsigned maj = 0, min = 0;
        if (std::sscanf(majmin.c_str(), "%u:%u", &maj, &min) != 2 || maj == 0) continue;
        if (!within(sys_path(makedev(maj, min)), disk)) continue;
        std::string source;
        size_t dash = line.find(" - ");
        if (dash != std::string::npos) {
            std::istringstream rest(line.substr(dash + 3));
            std::string fstype;
            rest >> fstype >> source;
        }
        users.push_back("'" + source + "' is mounted on '" + point + "'");
    }
    std::ifstream swaps("/proc/swaps");
    std::string line;
    std::getline(swaps, line);  // header
    while (std::getline(swaps, line)) {
        std::string path = line.substr(0, line.find_first_of(" \t"));
        struct stat s;
        if (::stat(path.c_str(), &s) == 0 && S_ISBLK(s.st_mode) &&
            within(sys_path(s.st_rdev), disk))
            users.push_back("'" + path + "' is in use as swap");
    }
    std::vector<std::string> nodes = {disk};
    for (const auto& e : list_dir(disk))
        if (::access((disk + "/" + e + "/partition").c_str(), F_OK) == 0)
            nodes.push_back(disk + "/" + e);
    for (const auto& n : nodes)
        for (const auto& h : list_dir(n + "/holders"))
            users.push_back("'" + n.substr(n.rfind('/') + 1) + "' is held by '" + h + "'");
    return users;
}

}  // namespace imageinit::os
