// libFuzzer entry point; the build picks the body with -DIMAGEINIT_FUZZ_ENTRY=fuzz_NAME.
#include <string>

#include "fuzz_targets.h"

#ifndef IMAGEINIT_FUZZ_ENTRY
#error "define IMAGEINIT_FUZZ_ENTRY to one of the fuzz_* bodies"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    imageinit::fuzz::IMAGEINIT_FUZZ_ENTRY(data, size);
    return 0;
}
