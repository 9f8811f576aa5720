// Which filesystem a directory is on (from /proc/self/mountinfo) and myfs's per-mount
// hook counters (/sys/fs/myfs/<major>:<minor>/stats, see docs/contracts.md).
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace readpath {

struct MountInfo {
  unsigned major = 0, minor = 0;
  std::string mount_point;
  std::string fstype;
  std::string source;
  std::string mount_options;  // per-mount (rw,relatime,...)
  std::string super_options;  // per-superblock (size=...,synthetic,...)

  bool is_myfs() const { return fstype == "myfs"; }
  bool has_option(std::string_view option) const;  // in either option list
  std::string options() const;                     // both lists, joined with ','
};

// Parses mountinfo text (proc(5)); octal escapes in paths (\040) are decoded.
std::vector<MountInfo> parse_mountinfo(std::istream& in);

// The mount that holds path: the entry with path's st_dev whose mount point is the
// longest prefix of its real path. Throws readpath::Error when there is none.
MountInfo mount_of(const std::string& path, const std::string& mountinfo = "/proc/self/mountinfo");

using Counters = std::vector<std::pair<std::string, uint64_t>>;

// Parses "name value" lines; throws readpath::Error on a malformed line.
Counters parse_stats(std::string_view text);

// Reads a stats file in one read(2), as the contract asks.
Counters read_stats(const std::string& path);

// Where a myfs mount's stats file is: /sys/fs/myfs/<major>:<minor>/stats.
std::string myfs_stats_path(const MountInfo& mount);

}  // namespace readpath
