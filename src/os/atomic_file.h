// The atomic replace used for the boot-state record: write NAME.tmp, fsync it, rename it over
// NAME, fsync the directory. After a power cut at any point NAME holds the old or the new
// content, never neither. The operations go through FileOps so a test can cut the sequence at
// every point (and tear the last write) and read back what a crash would leave.
#pragma once

#include <string>

#include "base/result.h"

namespace imageinit::os {

class FileOps {
  public:
    virtual ~FileOps() = default;
    // Replaces NAME (O_EXCL) with a new file of MODE: a key file is never readable by others,
    // not even empty.
    virtual Result<int> open_tmp(int dir_fd, const std::string& name, unsigned mode) = 0;
    virtual Result<void> write_all(int fd, const std::string& data) = 0;
    virtual Result<void> fsync(int fd) = 0;
    virtual Result<void> close(int fd) = 0;
    virtual Result<void> rename(int dir_fd, const std::string& from, const std::string& to) = 0;
    virtual Result<void> fsync_dir(int dir_fd) = 0;
};

FileOps& real_file_ops();

Result<void> write_file_atomic(int dir_fd, const std::string& name, const std::string& content,
                               FileOps& ops = real_file_ops(), unsigned mode = 0644);

// Removes NAME in DIR_FD (a missing NAME is fine) and fsyncs the directory, so the removal
// survives a power cut (the factory reset's request is cleared this way).
Result<void> remove_file_durable(int dir_fd, const std::string& name);

}  // namespace imageinit::os
