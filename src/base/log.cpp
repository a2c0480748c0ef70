// Logging sinks: kmsg with an early buffer for PID 1, stderr for the commands.
#include "base/log.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace imageinit::log {
namespace {

struct State {
    Sink sink = Sink::kStderr;
    bool debug = false;
    int kmsg_fd = -1;
    int console_fd = -1;
    bool unthrottled = false;  // we turned printk_devkmsg from "ratelimit" to "on"
    std::vector<std::pair<Level, std::string>> early;  // lines before /dev/kmsg exists
};

State& state() {
    static State s;
    return s;
}

// A log line that cannot be written is dropped: there is nowhere else to say so. (The log sink
// is below os/, so it has its own short write loop.)
void write_all(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::write(fd, s.data() + done, s.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<size_t>(n);
    }
}

void emit_kmsg(Level level, std::string_view message) {
    State& s = state();
    // /dev/kmsg takes one record per write; keep records within its 1 KiB-ish line limit.
    std::string rec = "<" + std::to_string(static_cast<int>(level)) + ">imageinit: ";
    rec.append(message.substr(0, 900));
    rec += '\n';
    if (s.kmsg_fd >= 0) write_all(s.kmsg_fd, rec);
    if (s.console_fd >= 0 && level <= Level::kWarning) {
        std::string line = "imageinit: ";
        line.append(message);
        line += '\n';
        write_all(s.console_fd, line);
    }
}

// The kernel rate-limits each /dev/kmsg writer to 10 lines per 5 s by default
// (printk.devkmsg=ratelimit): a boot that falls back logs more than that, and the lines dropped
// would include the "BOOT FAILED" summary. While PID 1 runs in the initramfs, writes are let
// through; the default is restored before the image's init starts. An explicit printk.devkmsg=
// on the command line locks the setting (the kernel refuses the write), which is respected.
constexpr const char* kDevkmsgSysctl = "/proc/sys/kernel/printk_devkmsg";

bool set_devkmsg(const char* from, const char* to) {
    int fd = ::open(kDevkmsgSysctl, O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[32] = {};
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    // The kernel accepts a value only with its trailing newline.
    std::string value = std::string(to) + "\n";
    bool changed =
        n > 0 && std::string(buf, static_cast<size_t>(n)) == std::string(from) + "\n" &&
        ::pwrite(fd, value.data(), value.size(), 0) == static_cast<ssize_t>(value.size());
    ::close(fd);
    return changed;
}

}  // namespace

void set_sink(Sink sink) { state().sink = sink; }
void set_debug(bool on) { state().debug = on; }

void attach_kmsg() {
    State& s = state();
    if (s.kmsg_fd < 0) s.kmsg_fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (s.console_fd < 0) s.console_fd = ::open("/dev/console", O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (s.kmsg_fd >= 0 && !s.unthrottled) s.unthrottled = set_devkmsg("ratelimit", "on");
    auto early = std::move(s.early);
    s.early.clear();
    for (auto& [level, msg] : early) emit_kmsg(level, msg);
}

void detach() {
    State& s = state();
    if (s.kmsg_fd >= 0) ::close(s.kmsg_fd);
    if (s.console_fd >= 0) ::close(s.console_fd);
    s.kmsg_fd = s.console_fd = -1;
    if (s.unthrottled) s.unthrottled = !set_devkmsg("on", "ratelimit");
}

void write_static(Level level, std::initializer_list<const char*> parts) noexcept {
    // "<3>imageinit: " + message + '\n', the message cut to the kmsg record limit above.
    static char buf[1024];
    constexpr size_t kPrefix = 3;  // "<N>" before "imageinit: "
    size_t n = 0;
    auto put = [&](const char* text) {
        for (; text && *text && n < sizeof(buf) - 1; ++text) buf[n++] = *text;
    };
    buf[0] = '<';
    buf[1] = static_cast<char>('0' + static_cast<int>(level));
    buf[2] = '>';
    n = kPrefix;
    put("imageinit: ");
    for (const char* p : parts) put(p);
    buf[n++] = '\n';
    State& s = state();
    if (s.sink == Sink::kStderr) {
        (void)!::write(2, buf + kPrefix, n - kPrefix);
        return;
    }
    if (s.kmsg_fd >= 0) (void)!::write(s.kmsg_fd, buf, n);
    if (s.console_fd >= 0 && level <= Level::kWarning)
        (void)!::write(s.console_fd, buf + kPrefix, n - kPrefix);
}

void write(Level level, std::string_view message) {
    State& s = state();
    if (level == Level::kDebug && !s.debug) return;
    if (s.sink == Sink::kStderr) {
        std::string line = "imageinit: ";
        line.append(message);
        line += '\n';
        write_all(2, line);
        return;
    }
    if (s.kmsg_fd < 0 && s.console_fd < 0) {
        if (s.early.size() < 256) s.early.emplace_back(level, std::string(message));
        return;
    }
    emit_kmsg(level, message);
}

}  // namespace imageinit::log
