// Partition tables through libfdisk (util-linux), loaded on first use with dlopen like
// libcryptsetup: only `imageinit bootstrap` needs it, so PID 1's initramfs does not carry it.
// Two calls: read a disk's table, write a new GPT. Sizes and offsets in bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace imageinit::os {

struct DiskPartition {
    std::string name;  // GPT partition name ("" on MBR)
    std::string type;  // GPT type GUID (upper case) or MBR type as libfdisk prints it
    uint64_t start = 0;
    uint64_t size = 0;
};

struct DiskTable {
    uint64_t size = 0;         // bytes
    uint64_t sector_size = 0;  // logical
    std::string label;         // "gpt", "dos", ... ("" without a partition table)
    std::vector<DiskPartition> partitions;
};

// Reads DEVICE (a block device or a disk image file) read-only.
Result<DiskTable> read_partition_table(const std::string& device);

// Writes a new GPT with exactly PARTS (numbered 1.. in order; starts and sizes must be multiples
// of the sector size), syncs the device, and asks the kernel to re-read a block device's table
// (a failure of that is ignored: bootstrap addresses partitions by offset, not by node).
Result<void> write_gpt(const std::string& device, const std::vector<DiskPartition>& parts);

}  // namespace imageinit::os
