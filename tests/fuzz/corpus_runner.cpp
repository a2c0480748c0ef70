// Replays fuzz corpora through the fuzz bodies without libFuzzer, so the checked-in seeds and
// regression inputs run as ordinary tests in every build:  corpus_runner TARGET FILE|DIR...
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fuzz_targets.h"

namespace {

using Body = void (*)(const uint8_t*, size_t);

const std::map<std::string, Body>& bodies() {
    static const std::map<std::string, Body> kBodies = {
        {"cmdline", imageinit::fuzz::fuzz_cmdline},
        {"mount_spec", imageinit::fuzz::fuzz_mount_spec},
        {"boot_record", imageinit::fuzz::fuzz_boot_record},
        {"path_rules", imageinit::fuzz::fuzz_path_rules},
        {"resolve", imageinit::fuzz::fuzz_resolve},
        {"module_index", imageinit::fuzz::fuzz_module_index},
        {"luks_policy", imageinit::fuzz::fuzz_luks_policy},
        {"registry", imageinit::fuzz::fuzz_registry},
        {"oci", imageinit::fuzz::fuzz_oci},
        {"tar_entry", imageinit::fuzz::fuzz_tar_entry},
    };
    return kBodies;
}

bool run_file(Body body, const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot read %s\n", file.c_str());
        return false;
    }
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // A property violation aborts; name the input first so the log says which one.
    std::fprintf(stderr, "%s\n", file.c_str());
    body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || bodies().count(argv[1]) == 0) {
        std::fprintf(stderr, "usage: corpus_runner TARGET FILE|DIR...\ntargets:");
        for (const auto& [name, body] : bodies()) std::fprintf(stderr, " %s", name.c_str());
        std::fprintf(stderr, "\n");
        return 2;
    }
    Body body = bodies().at(argv[1]);
    size_t count = 0;
    bool ok = true;
    for (int i = 2; i < argc; ++i) {
        std::filesystem::path arg(argv[i]);
        std::vector<std::filesystem::path> files;
        if (std::filesystem::is_directory(arg)) {
            for (const auto& entry : std::filesystem::directory_iterator(arg)) {
                if (entry.is_regular_file()) files.push_back(entry.path());
            }
            std::sort(files.begin(), files.end());
        } else {
            files.push_back(arg);
        }
        if (files.empty()) {
            std::fprintf(stderr, "%s: no corpus files\n", argv[i]);
            ok = false;
        }
        for (const auto& f : files) {
            ok &= run_file(body, f);
            ++count;
        }
    }
    if (!ok) return 1;
    std::printf("%s: %zu inputs, all properties held\n", argv[1], count);
    return 0;
}
