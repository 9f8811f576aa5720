// The block device under a directory, found from its st_dev through sysfs
// (/sys/dev/block/MAJ:MIN), and the device's read counters (its stat file): what the
// context says of the device and what a cell's dev_* counters count.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace readpath {

struct BlockDevice {
  std::string name;           // kernel name of the device holding the filesystem (sda1, nullb0)
  std::string disk;           // its disk: name itself, or a partition's parent (sda)
  std::string scheduler;      // the disk's selected I/O scheduler; "none" for a blk-mq queue
                              // without a choice; "n/a" for a bio-based device (brd)
  std::string model;          // device/model, else the driver's name where known, else "unknown"
  std::string read_ahead_kb;  // the disk's queue/read_ahead_kb ("unknown" when unreadable)
  std::string stat_path;      // the device's own stat file (a partition's, for a partition)
  // queue/iostats is not 0: the stat file counts this device's I/O (bio-based drivers such
  // as brd account none, and their stat file stays at zero whatever is read).
  bool counts_io = true;
};

// The block device with number major:minor under the sysfs mounted at sysfs_root, or
// nullopt when there is none (tmpfs, and other filesystems on an anonymous device).
std::optional<BlockDevice> block_device_of(unsigned major, unsigned minor, const std::string& sysfs_root = "/sys");

// The read side of a block device's stat file (Documentation/block/stat.rst), fields 1 to 4.
struct BlockReads {
  uint64_t ios = 0;      // read requests completed
  uint64_t merges = 0;   // read requests merged into others
  uint64_t sectors = 0;  // 512-byte sectors read
  uint64_t ms = 0;       // milliseconds spent on reads (summed over requests)
  BlockReads operator-(const BlockReads& before) const;
};

// Parses the stat file's text; throws readpath::Error when it has fewer than four numbers.
BlockReads parse_block_stat(std::string_view text);
// Reads and parses a stat file; throws readpath::Error naming it.
BlockReads read_block_stat(const std::string& path);

// "mq-deadline" out of queue/scheduler's "none [mq-deadline] kyber"; text without a
// bracketed name ("none": no choice) yields "" (the caller tells blk-mq from bio-based).
std::string selected_scheduler(std::string_view text);

}  // namespace readpath
