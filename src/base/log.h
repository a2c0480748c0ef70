// Logging for PID 1 and the commands. In early boot lines are buffered until /dev/kmsg can be
// opened, then written as "<N>imageinit: ..."; warnings and errors also go to the console.
// Library code does not log: it returns errors; the step runner and main() log.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace imageinit::log {

enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

enum class Sink {
    kStderr,  // commands in the booted OS: "imageinit: ..." on stderr (info on stdout is theirs)
    kKmsg,    // PID 1: /dev/kmsg, errors and warnings also on /dev/console
};

void set_sink(Sink sink);
void set_debug(bool on);
// Opens /dev/kmsg and /dev/console once /dev exists and flushes the early buffer.
void attach_kmsg();
// Drops the device fds before switch_root (they are reopened by nobody: the image logs itself).
void detach();

void write(Level level, std::string_view message);

// The emergency path: formats PARTS (joined, cut to fit) into a static buffer and writes it with
// write(2) to /dev/kmsg and the console (stderr for the commands). Never allocates, so it can be
// called inside a catch handler after std::bad_alloc (issue 19).
void write_static(Level level, std::initializer_list<const char*> parts) noexcept;

inline void error(std::string_view m) { write(Level::kError, m); }
inline void warning(std::string_view m) { write(Level::kWarning, m); }
inline void notice(std::string_view m) { write(Level::kNotice, m); }
inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void debug(std::string_view m) { write(Level::kDebug, m); }

}  // namespace imageinit::log
