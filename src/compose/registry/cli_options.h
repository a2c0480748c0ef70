// The registry options of imageinit-compose's command line (skopeo's names), taken out of argv
// before the compose options are parsed, and the `gc` subcommand.
#pragma once

#include <string>

#include "compose/compose.h"

namespace imageinit::compose::registry {

// Removes --creds, --authfile, --cert-dir, --tls-verify[=BOOL], --platform, --retry-times,
// --jobs and --digestfile (as "--opt VALUE" or "--opt=VALUE") from argv, storing them in `opts`.
// Returns false after printing a one-line error for a bad value.
bool take_registry_options(int& argc, char** argv, Options& opts);

// Lines for the usage text.
extern const char* const kRegistryUsage;

// `imageinit-compose gc [--cache DIR] [--keep DIGEST]... [--keep-slots DIR]`; returns the exit
// code.
int run_gc(int argc, char** argv);

}  // namespace imageinit::compose::registry
