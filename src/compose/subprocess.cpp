// posix_spawnp with a pipe for capture: no fork of a large process, no shell, no quoting.
#include "compose/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/unique_fd.h"

extern char** environ;

namespace imageinit::compose {

std::string describe(const std::vector<std::string>& argv) {
    std::string out;
    for (const std::string& a : argv) {
        if (!out.empty()) out += ' ';
        bool plain = !a.empty() && a.find_first_of(" '\"\\$") == std::string::npos;
        out += plain ? a : "'" + a + "'";
    }
    return out;
}

Result<RunOutput> run(const std::vector<std::string>& argv, bool capture,
                      const std::vector<std::string>& unset_env) {
    std::vector<char*> env;
    for (char** e = environ; *e; ++e) {
        std::string_view var = *e;
        bool drop = false;
        for (const std::string& name : unset_env)
            drop = drop ||
                   (var.starts_with(name) && var.size() > name.size() && var[name.size()] == '=');
        if (!drop) env.push_back(*e);
    }
    env.push_back(nullptr);

    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    int fds[2] = {-1, -1};
    if (capture && ::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe", argv[0]);
    sys::UniqueFd read_end(fds[0]), write_end(fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture) {
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
    }
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail(rc, "run '" + argv[0] + "': " + std::strerror(rc));
    write_end.reset();

    RunOutput out;
    if (capture) {
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(read_end.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            out.output.append(buf, static_cast<size_t>(n));
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return fail_errno("waitpid", argv[0]);
    }
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return out;
}

}  // namespace imageinit::compose
