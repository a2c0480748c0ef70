// The atomic replace used for the boot-state record: write NAME.tmp, fsync it, rename it over
// NAME, fsync the directory. After a power cut at any point NAME holds the old or the new
// content, never neither. The operations go through FileOps so a test can cut the sequence at
// every point (and tear the last write) and read back what a crash would leave.
#pragma once

#include <string>

#include "core/result.h"

namespace imageinit::sys {

class FileOps {
public:
    virtual ~FileOps() = default;
    virtual Result<int> open_tmp(int dir_fd, const std::string& name) = 0;  // replaces NAME, O_EXCL
    virtual Result<void> write_all(int fd, const std::string& data) = 0;
    virtual Result<void> fsync(int fd) = 0;
    virtual Result<void> close(int fd) = 0;
    virtual Result<void> rename(int dir_fd, const std::string& from, const std::string& to) = 0;
    virtual Result<void> fsync_dir(int dir_fd) = 0;
};

FileOps& real_file_ops();

Result<void> write_file_atomic(int dir_fd, const std::string& name, const std::string& content,
                               FileOps& ops = real_file_ops());

}  // namespace imageinit::sys
