// Logging sinks: kmsg with an early buffer for PID 1, stderr for the commands.
#include "sys/log.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace imageinit::log {
namespace {

struct State {
    Sink sink = Sink::kStderr;
    bool debug = false;
    int kmsg_fd = -1;
    int console_fd = -1;
    std::vector<std::pair<Level, std::string>> early;  // lines before /dev/kmsg exists
};

State& state() {
    static State s;
    return s;
}

void write_all(int fd, const std::string& s) {
    const char* p = s.data();
    size_t left = s.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += n;
        left -= static_cast<size_t>(n);
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

}  // namespace

void set_sink(Sink sink) { state().sink = sink; }
void set_debug(bool on) { state().debug = on; }

void attach_kmsg() {
    State& s = state();
    if (s.kmsg_fd < 0) s.kmsg_fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (s.console_fd < 0) s.console_fd = ::open("/dev/console", O_WRONLY | O_CLOEXEC | O_NOCTTY);
    auto early = std::move(s.early);
    s.early.clear();
    for (auto& [level, msg] : early) emit_kmsg(level, msg);
}

void detach() {
    State& s = state();
    if (s.kmsg_fd >= 0) ::close(s.kmsg_fd);
    if (s.console_fd >= 0) ::close(s.console_fd);
    s.kmsg_fd = s.console_fd = -1;
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
