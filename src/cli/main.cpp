// Entry point: PID 1 in an initramfs runs the boot; anywhere else the first argument names a
// command for the booted OS or the image builder.
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/pid1.h"

int main(int argc, char** argv) {
    if (::getpid() == 1) imageinit::cli::pid1_main();
    imageinit::log::set_sink(imageinit::log::Sink::kStderr);
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return imageinit::cli::run_command(args);
    } catch (const std::exception& e) {
        imageinit::log::error(std::string("internal error: ") + e.what());
        return 70;
    }
}
