// Boot menu entries and their systemd-boot and GRUB renderings (see boot_entries.h).
#include "core/boot_entries.h"

#include <cstdio>

namespace imageinit::core {
namespace {

std::string join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    return a + " " + b;
}

}  // namespace

std::vector<BootEntry> boot_entries(const std::string& cmdline,
                                    const std::vector<std::string>& slots) {
    std::vector<BootEntry> out;
    out.push_back({"imageinit", "imageinit", cmdline});
    for (const auto& s : slots)
        out.push_back({"imageinit-slot-" + s, "imageinit: slot " + s + " only",
                       join(cmdline, "imageinit.slot=" + s)});
    out.push_back({"imageinit-factory-reset", "imageinit: factory reset (empties PERSIST)",
                   join(cmdline, "imageinit.reset=persist")});
    return out;
}

std::vector<EspFile> systemd_boot_files(const std::vector<BootEntry>& entries) {
    std::vector<EspFile> out;
    // timeout 0: no menu unless a key is held at power-on (systemd-boot(7)); the default entry
    // lets imageinit choose the slot.
    out.push_back(
        {"loader/loader.conf", "default " + entries.front().id + ".conf\ntimeout 0\neditor no\n"});
    int n = 0;
    for (const auto& e : entries) {
        char key[16];
        std::snprintf(key, sizeof key, "%02d", n++);
        out.push_back(
            {"loader/entries/" + e.id + ".conf", "title " + e.title + "\nsort-key imageinit-" +
                                                     key + "\nlinux /" + kEspKernel + "\ninitrd /" +
                                                     kEspInitrd + "\noptions " + e.options + "\n"});
    }
    return out;
}

std::string grub_config(const std::vector<BootEntry>& entries) {
    std::string out =
        "set timeout=0\nset default=0\n"
        "serial --unit=0 --speed=115200\nterminal_input console serial\n"
        "terminal_output console serial\n";
    out += std::string("search --no-floppy --set=root --file /") + kEspKernel + "\n";
    for (const auto& e : entries) {
        out += "menuentry '" + e.title + "' {\n    linux /" + kEspKernel + " " + e.options +
               "\n    initrd /" + kEspInitrd + "\n}\n";
    }
    return out;
}

}  // namespace imageinit::core
