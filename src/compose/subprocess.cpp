// posix_spawnp with a pipe for capture: no fork of a large process, no shell, no quoting.
#include "compose/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "base/unique_fd.h"

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

namespace {

std::vector<char*> child_environment(const std::vector<std::string>& unset_env) {
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
    return env;
}

// posix_spawnp with ACTIONS (which it destroys); the child's pid.
Result<pid_t> spawn(const std::vector<std::string>& argv, posix_spawn_file_actions_t& actions,
                    const std::vector<std::string>& unset_env) {
    std::vector<char*> env = child_environment(unset_env);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail(rc, "run '" + argv[0] + "': " + std::strerror(rc));
    return pid;
}

// Reads FD to its end into OUT; more than MAX bytes is EFBIG (the rest is drained).
Result<void> read_all(int fd, std::string& out, size_t max, const std::string& who) {
    char buf[4096];
    bool over = false;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (out.size() + static_cast<size_t>(n) > max) over = true;
        if (!over) out.append(buf, static_cast<size_t>(n));
    }
    if (over) return fail(EFBIG, "'" + who + "' wrote more than " + std::to_string(max) + " bytes");
    return ok();
}

Result<RunOutput> wait_for(pid_t pid, RunOutput out, const std::string& who) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return fail_errno("waitpid", who);
    }
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return out;
}

}  // namespace

Result<RunOutput> run(const std::vector<std::string>& argv, bool capture,
                      const std::vector<std::string>& unset_env) {
    int fds[2] = {-1, -1};
    if (capture && ::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe", argv[0]);
    UniqueFd read_end(fds[0]), write_end(fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture) {
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
    }
    pid_t pid = TRY(spawn(argv, actions, unset_env));
    write_end.reset();

    RunOutput out;
    if (capture) {
        // Unbounded: the standard tools' own output (mkfs.erofs, veritysetup).
        (void)read_all(read_end.get(), out.output, SIZE_MAX, argv[0]);
    }
    return wait_for(pid, std::move(out), argv[0]);
}

Result<RunOutput> run_with_input(const std::vector<std::string>& argv, std::string_view input,
                                 size_t max_output) {
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (::pipe2(in, O_CLOEXEC) != 0) return fail_errno("pipe", argv[0]);
    UniqueFd in_read(in[0]), in_write(in[1]);
    if (::pipe2(outp, O_CLOEXEC) != 0) return fail_errno("pipe", argv[0]);
    UniqueFd out_read(outp[0]), out_write(outp[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
    pid_t pid = TRY(spawn(argv, actions, {}));
    in_read.reset();
    out_write.reset();

    // A helper that exits without reading its stdin must not kill us with SIGPIPE: MSG_NOSIGNAL
    // needs a socket, so the write's EPIPE is simply ignored (the exit status tells).
    struct sigaction ignore = {}, old = {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &old);
    for (size_t done = 0; done < input.size();) {
        ssize_t n = ::write(in_write.get(), input.data() + done, input.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
    }
    ::sigaction(SIGPIPE, &old, nullptr);
    in_write.reset();

    RunOutput out;
    auto read = read_all(out_read.get(), out.output, max_output, argv[0]);
    auto waited = TRY(wait_for(pid, std::move(out), argv[0]));
    if (!read) return Unexpected(read.error());
    return waited;
}

}  // namespace imageinit::compose
