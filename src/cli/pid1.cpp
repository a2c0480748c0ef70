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

#include "boot/boot_sequence.h"
#include "boot/kernel_services.h"
#include "boot/real_platform.h"
#include "boot/step_runner.h"
#include "core/kernel_cmdline.h"
#include "sys/devwait.h"
#include "sys/files.h"
#include "sys/module_loader.h"
#include "sys/kexec.h"
#include "sys/log.h"
#include "sys/mount.h"
#include "sys/switch_root.h"

namespace imageinit::cli {
namespace {

constexpr const char* kShell = "/bin/sh";
constexpr unsigned kRebootDelaySec = 5;  // time to read the summary on a console

bool have_shell() { return ::access(kShell, X_OK) == 0; }

// Runs the initramfs shell as a child and waits for it. Only ever reached when the command line
// asked for it (imageinit.shell / imageinit.break) and the initramfs carries a shell.
void run_shell(const std::string& why) {
    log::warning("starting a shell (" + why + "); exit it to continue");
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

[[noreturn]] void emergency(const core::BootConfig& cfg, const std::string& summary) {
    log::error("BOOT FAILED: " + summary);
    if (cfg.shell && have_shell()) {
        run_shell("imageinit.shell");
    } else {
        if (cfg.shell) log::error("imageinit.shell given but the initramfs has no shell");
        log::error("rebooting in " + std::to_string(kRebootDelaySec) + " seconds");
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
        auto r = sys::mount(m.source, m.target, m.fstype, m.flags, m.data);
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
        if (!mounted) emergency(cfg, "early mounts: " + mounted.error().message);

        auto raw = sys::read_file("/proc/cmdline", 65536);
        cmdline = core::parse_kernel_cmdline(raw ? *raw : std::string());
        log::set_debug(cfg.debug);
        for (const auto& w : cfg.warnings) log::warning("command line: " + w);

        boot::StepRunner steps(boot::Clock::now, [&cfg](const std::string& step) {
            if (cfg.break_step && *cfg.break_step == step) {
                if (have_shell())
                    run_shell("imageinit.break=" + step);
                else
                    log::warning("imageinit.break=" + step + ": the initramfs has no shell");
            }
        });

        boot::KernelServices services;
        boot::start_kernel_services(steps, services, cmdline.modules, /*coldplug=*/true);

        boot::RealPlatform platform(services.loader(), services.device_waiter());
        boot::BootSequence sequence(platform, cmdline, steps, start);
        auto handover = sequence.run();
        if (!handover) emergency(cfg, boot::failure_summary(handover.error(), sequence.report()));
        if (handover->kexec) {
            log::notice("rebooting into the slot's own kernel (kexec) after " +
                        std::to_string(steps.total_ms()) + " ms in the initramfs");
            auto r = sys::kexec_reboot();
            emergency(cfg, "kexec: " + r.error().message);
        }
        log::notice("booting slot " + sequence.report().slot + " (" + sequence.report().why +
                    "): exec " + handover->init + " after " + std::to_string(steps.total_ms()) +
                    " ms in the initramfs");
        auto switched = sys::switch_root(handover->new_root);
        if (!switched) emergency(cfg, "switch-root: " + switched.error().message);

        std::vector<char*> argv;
        for (auto& a : handover->argv) argv.push_back(a.data());
        argv.push_back(nullptr);
        log::detach();
        ::execv(handover->init.c_str(), argv.data());
        log::attach_kmsg();  // /dev is the new root's now; still the same devtmpfs
        emergency(cfg, "exec '" + handover->init + "': " + std::strerror(errno));
    } catch (const std::exception& e) {
        emergency(cfg, std::string("internal error: ") + e.what());
    } catch (...) {
        emergency(cfg, "internal error");
    }
}

}  // namespace imageinit::cli
