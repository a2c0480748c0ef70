// `imageinit dracut-mount`: the boot sequence inside a dracut initramfs (contract §10.2). dracut
// (or systemd in it) has mounted /proc, /sys, /dev and /run and runs udev; this command chooses
// the slot, prepares /sysroot exactly as PID 1 would (fallback, mounts, hooks, boot report) and
// exits; dracut then switches root. See docs/dracut.md.
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "boot/boot_sequence.h"
#include "boot/kernel_services.h"
#include "boot/real_platform.h"
#include "boot/reset_persist_ops.h"
#include "boot/step_runner.h"
#include "boot/tpm_boot.h"
#include "cli/commands.h"
#include "core/kernel_cmdline.h"
#include "os/devwait.h"
#include "os/files.h"

namespace imageinit::cli {
namespace {

// udev's control socket: when it exists udev runs, replays the device events itself (dracut's
// "udevadm trigger") and loads drivers by modalias, so our coldplug pass would only duplicate it.
constexpr const char* kUdevControl = "/run/udev/control";

bool exists(const char* path) {
    struct stat st;
    return ::stat(path, &st) == 0;
}

}  // namespace

int cmd_dracut_mount(const std::vector<std::string>& args, const CommonOptions&) {
    for (const auto& a : args) {
        log::error("dracut-mount: unknown argument '" + a + "'");
        return 2;
    }
    auto start = boot::Clock::now();
    // Same log as PID 1: the kernel log, warnings and errors also on the console.
    log::set_sink(log::Sink::kKmsg);
    log::attach_kmsg();
    ::mkdir("/run/imageinit", 0755);

    // Parsed once here and passed down: nothing below reads /proc/cmdline again.
    auto raw = os::read_file("/proc/cmdline", 65536);
    const core::KernelCmdline cmdline = core::parse_kernel_cmdline(raw ? *raw : std::string());
    const core::BootConfig& cfg = cmdline.boot;
    log::set_debug(cfg.debug);
    for (const auto& w : cfg.warnings) log::warning("command line: " + w);
    if (cfg.shell || cfg.break_step)
        log::notice(
            "imageinit.shell and imageinit.break are PID 1 options; under dracut use "
            "rd.shell and rd.break");

    boot::StepRunner steps;
    // Under udev the devices are already replayed: only listen.
    boot::KernelServices services;
    boot::start_kernel_services(steps, services, cmdline.modules,
                                /*coldplug=*/!exists(kUdevControl));

    boot::RealPlatform platform(services.loader(), services.device_waiter());
    boot::BootSequence sequence(platform.seams(), cmdline, steps, start);
    sequence.set_reset_ops(boot::real_reset_ops(platform.devices()));
    auto handover = sequence.run();
    // Either way dracut runs on (its switch_root, or its emergency shell): close the TPM first
    // so nothing after imageinit can unseal PERSIST's key (docs/integrity.md, "TPM2").
    const bool closed = boot::tpm_close_boot();
    if (!handover) {
        log::error("BOOT FAILED: " + boot::failure_summary(handover.error(), sequence.report()));
        return 1;  // dracut's emergency policy (rd.shell, rd.emergency) takes over
    }
    if (!closed) {
        log::error("BOOT FAILED: the TPM could not be closed for this boot (PCR 15 not extended)");
        return 1;
    }
    // dracut picks the init itself, by the same rule (init=, else /sbin/init), and the
    // check-init step has verified that it exists in the new root.
    log::notice("slot " + sequence.report().slot + " (" + sequence.report().why + ") ready on " +
                handover->new_root + " after " + std::to_string(steps.total_ms()) +
                " ms; dracut switches root to " + handover->init);
    return 0;
}

}  // namespace imageinit::cli
