// The fuzz bodies, one per parser or resolver: each is compiled into its libFuzzer binary
// (fuzz_entry.cpp) and into corpus_runner, which replays the checked-in corpora as plain tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace imageinit::fuzz {

// A property that must hold for every input. A violation aborts, which libFuzzer records as a
// crash (with the input) and corpus_runner reports as a failed test.
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, __LINE__, #cond, \
                         std::string(what).c_str());                                               \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

void fuzz_cmdline(const uint8_t* data, size_t size);
void fuzz_mount_spec(const uint8_t* data, size_t size);
void fuzz_boot_record(const uint8_t* data, size_t size);
void fuzz_path_rules(const uint8_t* data, size_t size);
void fuzz_resolve(const uint8_t* data, size_t size);
void fuzz_module_index(const uint8_t* data, size_t size);
void fuzz_luks_policy(const uint8_t* data, size_t size);
void fuzz_registry(const uint8_t* data, size_t size);
void fuzz_oci(const uint8_t* data, size_t size);
void fuzz_tar_entry(const uint8_t* data, size_t size);

}  // namespace imageinit::fuzz
