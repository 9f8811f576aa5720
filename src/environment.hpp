// What a result depends on besides the code: kernel, filesystem, accelerator, CPU, and
// the page-cache knobs; written into the JSON context (docs/contracts.md lists the keys).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace readpath {

using Context = std::vector<std::pair<std::string, std::string>>;

// kernel, fs, fs_options, accel, cpu_model, thp, read_ahead_kb, fault_around_bytes,
// governor, damon (proactive reclaim), readpath_commit for the directory under test. Unreadable values are
// "unknown" (or "n/a" where the notion does not apply, e.g. read_ahead_kb on tmpfs). fs_note
// only where the filesystem is known from statfs alone (MountInfo::note says what is not).
// On a block device also block_device, block_scheduler and block_model (blockdev.hpp), and
// read_ahead_kb is that device's queue's.
Context capture_environment(const std::string& dir);

// READPATH_ACCEL, or "host" when unset.
std::string accel();

// Bytes from "4096", "4K", "64k", "1M", "2G" (binary units); throws readpath::Error.
uint64_t parse_size(std::string_view text);
// A comma-separated list of sizes; throws readpath::Error naming the bad item.
std::vector<uint64_t> parse_size_list(std::string_view text);
// 4096 → "4K", 1048576 → "1M", 1000 → "1000".
std::string format_size(uint64_t bytes);

// MemAvailable from /proc/meminfo, in bytes (0 when unreadable).
uint64_t memory_available();

}  // namespace readpath
