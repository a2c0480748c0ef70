// tpm2-tss (ESAPI, marshalling, TCTI), loaded on first use with dlopen like libcryptsetup: the
// imageinit binary does not depend on it, and only `mkinitrd --with-tpm` carries it
// (docs/integrity.md, "TPM2"). Without it, TPM calls fail with "this initramfs has no tpm2-tss".
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tcti.h>

#include "base/result.h"

namespace imageinit::os {

struct Tpm2Api {
#define IMAGEINIT_TPM_FN(lib, name) decltype(&::name) name = nullptr;
#include "os/tpm2_fns.inc"
#undef IMAGEINIT_TPM_FN
};

// Loads libtss2-esys and libtss2-mu once (thread-safe) and returns the function table.
Result<const Tpm2Api*> tpm2_api();

// Initialises a TCTI from its spec: "device:PATH" (the kernel's /dev/tpmrm0 resource manager)
// or "swtpm:host=H,port=P" (tests against swtpm's socket interface). The library of that TCTI
// is loaded on demand. The context is malloc'ed; finalize and free it with tcti_free.
Result<TSS2_TCTI_CONTEXT*> tcti_open(const std::string& spec);
void tcti_free(TSS2_TCTI_CONTEXT* tcti);

}  // namespace imageinit::os
