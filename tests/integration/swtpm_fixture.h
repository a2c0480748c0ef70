// A software TPM (swtpm's socket interface on loopback) for the tests of os/tpm2 and the
// TPM commands: started per test with its own state directory, killed at the end.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

class SwtpmFixture : public testing::Test {
  protected:
    void SetUp() override { start(); }
    void TearDown() override { stop(); }

    void start() {
        if (::access("/usr/bin/swtpm", X_OK) != 0) GTEST_SKIP() << "swtpm is not installed";
        char tmpl[] = "/tmp/imageinit-swtpm-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        port_ = free_port_pair();
        pid_ = ::fork();
        ASSERT_GE(pid_, 0);
        if (pid_ == 0) {
            std::string state = "dir=" + dir_;
            std::string server = "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port_);
            std::string ctrl = "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port_ + 1);
            ::execl("/usr/bin/swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state.c_str(),
                    "--server", server.c_str(), "--ctrl", ctrl.c_str(), "--flags",
                    "not-need-init,startup-clear", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Ready when the command port accepts a connection (event: the connect succeeds).
        for (int i = 0; i < 500 && !can_connect(port_); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ASSERT_TRUE(can_connect(port_)) << "swtpm did not start";
    }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
        dir_.clear();
    }
    // A TPM with a new owner seed: what a cleared or replaced TPM looks like to a sealed key.
    void restart_blank() {
        stop();
        start();
    }
    std::string interface() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

  private:
    static bool can_connect(int port) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }
    static bool can_bind(int port) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }
    static int free_port_pair() {
        for (int i = 0; i < 200; ++i) {
            int p = 20000 + (std::rand() % 20000) * 2;
            if (can_bind(p) && can_bind(p + 1)) return p;
        }
        return 23210;
    }
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};
