// PID 1 in the minimal initramfs: early mounts, modules, devices, the boot sequence, switch_root
// and exec; every failure ends in emergency(), the single way out that is not the image's init.
#include "cli/pid1.h"

#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#include "boot/watchdog.h"
#include "core/kernel_cmdline.h"
#include "os/devwait.h"
#include "os/files.h"
#include "os/kexec.h"
#include "os/mount.h"
#include "os/switch_root.h"

namespace imageinit::cli {
namespace {

constexpr const char* kShell = "/bin/sh";
constexpr unsigned kRebootDelaySec = 5;  // time to read the summary on a console
// Static text: emergency() allocates nothing.
constexpr const char* kRebootMessage = "rebooting in 5 seconds";
static_assert(kRebootDelaySec == 5, "kRebootMessage names the delay");

bool have_shell() { return ::access(kShell, X_OK) == 0; }

// Runs the initramfs shell as a child and waits for it. Only ever reached when the command line
// asked for it (imageinit.shell / imageinit.break) and the initramfs carries a shell. WHY is
// static text: the emergency path calls this and must not allocate.
void run_shell(const char* why, const char* detail = "") {
    // A root shell with the TPM still open could unseal PERSIST's key (docs/integrity.md).
    if (!boot::tpm_close_boot()) {
        log::write_static(log::Level::kError,
                          {"no shell: the TPM could not be closed for this boot"});
        return;
    }
    log::write_static(log::Level::kWarning,
                      {"starting a shell (", why, detail, "); exit it to continue"});
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        const char* argv[] = {kShell, "-i", nullptr};
        ::execv(kShell, const_cast<char* const*>(argv));
        ::_exit(127);
    }
    if (pid > 0)
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
}

// The one way out that is not the image's init. Never allocates (only static text, write(2) and
// syscalls), because it is also reached from catch handlers, where the exception may be
// std::bad_alloc (issue 19). The summary is WHAT followed by DETAIL.
[[noreturn]] void emergency(const core::BootConfig& cfg, const char* what,
                            const char* detail = "") noexcept {
    log::write_static(log::Level::kError, {"BOOT FAILED: ", what, detail});
    if (cfg.shell && have_shell()) {
        run_shell("imageinit.shell");
    } else {
        if (cfg.shell)
            log::write_static(log::Level::kError,
                              {"imageinit.shell given but the initramfs has no shell"});
        log::write_static(log::Level::kError, {kRebootMessage});
        ::sleep(kRebootDelaySec);
    }
    ::sync();
    ::reboot(RB_AUTOBOOT);
    for (;;) ::pause();  // reboot(2) failed: PID 1 must not exit (that panics the kernel)
}

Result<void> early_mounts() {
    struct M {
        const char *source, *target, *fstype;
        unsigned long flags;
        const char* data;
    } mounts[] = {
        {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""},
        {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""},
        {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
        {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    };
    for (const auto& m : mounts) {
        ::mkdir(m.target, 0755);
        auto r = os::mount(m.source, m.target, m.fstype, m.flags, m.data);
        if (!r && r.error().code != EBUSY) return r;
    }
    ::mkdir("/run/imageinit", 0755);
    return ok();
}

}  // namespace

[[noreturn]] void pid1_main() {
    auto start = boot::Clock::now();
    log::set_sink(log::Sink::kKmsg);
    // Parsed once here and passed down: nothing below reads /proc/cmdline again.
    core::KernelCmdline cmdline;
    const core::BootConfig& cfg = cmdline.boot;
    try {
        auto mounted = early_mounts();
        log::attach_kmsg();
        if (!mounted) emergency(cfg, "early mounts: ", mounted.error().message.c_str());

        auto raw = os::read_file("/proc/cmdline", 65536);
        cmdline = core::parse_kernel_cmdline(raw ? *raw : std::string());
        log::set_debug(cfg.debug);
        for (const auto& w : cfg.warnings) log::warning("command line: " + w);

        // Fed before every step; a hang inside one step longer than the timeout resets the
        // machine, which counts as the failed try of the slot (contract §14).
        boot::BootWatchdog watchdog(cfg.watchdog_sec);
        if (cfg.watchdog_sec > 0 && cfg.watchdog_sec <= cfg.timeout_sec)
            log::warning(
                "imageinit.watchdog=" + std::to_string(cfg.watchdog_sec) +
                " is not longer than imageinit.timeout=" + std::to_string(cfg.timeout_sec) +
                ": a slow device wait will end in a watchdog reset");
        boot::StepRunner steps(boot::Clock::now, [&cfg, &watchdog](const std::string& step) {
            watchdog.feed();
            if (cfg.break_step && *cfg.break_step == step) {
                if (have_shell())
                    run_shell("imageinit.break=", step.c_str());
                else
                    log::warning("imageinit.break=" + step + ": the initramfs has no shell");
            }
        });

        boot::KernelServices services;
        boot::start_kernel_services(steps, services, cmdline.modules, /*coldplug=*/true);
        watchdog.arm();  // coldplug has loaded its driver, if there is one

        boot::RealPlatform platform(services.loader(), services.device_waiter());
        boot::BootSequence sequence(platform.seams(), cmdline, steps, start);
        sequence.set_watchdog_reset_probe([&watchdog] { return watchdog.reset_by_watchdog(); });
        sequence.set_reset_ops(boot::real_reset_ops(platform.devices()));
        auto handover = sequence.run();
        if (!handover)
            emergency(cfg, boot::failure_summary(handover.error(), sequence.report()).c_str());
        if (handover->kexec) {
            log::notice("rebooting into the slot's own kernel (kexec) after " +
                        std::to_string(steps.total_ms()) + " ms in the initramfs");
            // The slot's own PID 1 unseals with the image's kexec key (docs/integrity.md, "A
            // slot with its own kernel"); nothing else can: PCR 15 is never zero again.
            if (!boot::tpm_close_boot(handover->kexec_roothash))
                emergency(cfg, "the TPM could not be closed for this boot (PCR 15 not extended)");
            auto r = os::kexec_reboot();
            emergency(cfg, "kexec: ", r.error().message.c_str());
        }
        log::notice("booting slot " + sequence.report().slot + " (" + sequence.report().why +
                    "): exec " + handover->init + " after " + std::to_string(steps.total_ms()) +
                    " ms in the initramfs");
        // From here on the image runs with root: nothing it does may unseal PERSIST's key.
        if (!boot::tpm_close_boot())
            emergency(cfg, "the TPM could not be closed for this boot (PCR 15 not extended)");
        auto switched = os::switch_root(handover->new_root);
        if (!switched) emergency(cfg, "switch-root: ", switched.error().message.c_str());

        std::vector<char*> argv;
        for (auto& a : handover->argv) argv.push_back(a.data());
        argv.push_back(nullptr);
        watchdog.feed();  // the image's init starts with a full timeout
        log::detach();
        ::execv(handover->init.c_str(), argv.data());
        log::attach_kmsg();  // /dev is the new root's now; still the same devtmpfs
        emergency(cfg, ("exec '" + handover->init + "': " + std::strerror(errno)).c_str());
    } catch (const std::exception& e) {
        // Outside any slot attempt (those fail the slot, see StepRunner): no allocation here.
        emergency(cfg, "internal error: ", e.what());
    } catch (...) {
        emergency(cfg, "internal error");
    }
}

}  // namespace imageinit::cli
