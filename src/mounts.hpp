// Which filesystem a directory is on (from /proc/self/mountinfo, or from statfs where that
// has no entry for it), myfs's per-mount hook
// counters (/sys/fs/myfs/<major>:<minor>/stats, see docs/contracts.md), and switching
// myfs's counting off and on again by remounting.
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
  // False when no mountinfo entry holds the directory: in a chroot (a build root) the
  // mount can lie outside the process's root and so be absent. Then fstype is statfs's
  // f_type by name (fs_type_name), major:minor is st_dev, mount point, source and options
  // are unknown (empty), and `note` says so in a sentence.
  bool from_mountinfo = true;
  std::string note;

  bool is_myfs() const { return fstype == "myfs"; }
  // Its files live in the page cache alone, with no device under them (tmpfs, and devtmpfs
  // and ramfs, which a /dev/shm or a scratch directory of a minimal root can be).
  bool memory_only() const { return fstype == "tmpfs" || fstype == "devtmpfs" || fstype == "ramfs"; }
  // myfs in block mode (its source names a block device): its files are an image's, made
  // by tools/mkfs.myfs, and read-only.
  bool is_myfs_block() const { return is_myfs() && source.rfind("/dev/", 0) == 0; }
  bool has_option(std::string_view option) const;  // in either option list
  std::string options() const;                     // both lists, joined with ','
};

// Parses mountinfo text (proc(5)); octal escapes in paths (\040) are decoded.
std::vector<MountInfo> parse_mountinfo(std::istream& in);

// The mount that holds path: the entry with path's st_dev whose mount point is the
// longest prefix of its real path; when there is none, what statfs and stat say of it
// (from_mountinfo false). Throws readpath::Error when path cannot be stat'ed.
MountInfo mount_of(const std::string& path, const std::string& mountinfo = "/proc/self/mountinfo");

// A statfs f_type as mountinfo names the filesystem ("tmpfs", "xfs", "myfs", ...);
// ext2, ext3 and ext4 share one magic, "ext2/ext3/ext4"; any other "unknown (0x<hex>)".
std::string fs_type_name(unsigned long f_type);

using Counters = std::vector<std::pair<std::string, uint64_t>>;

// Parses "name value" lines; throws readpath::Error on a malformed line.
Counters parse_stats(std::string_view text);

// Reads a stats file in one read(2), as the contract asks.
Counters read_stats(const std::string& path);

// Where a myfs mount's stats file is: /sys/fs/myfs/<major>:<minor>/stats.
std::string myfs_stats_path(const MountInfo& mount);

// after - before, counter by counter, in after's order (a counter missing from before
// counts from 0).
Counters counter_delta(const Counters& before, const Counters& after);

// The MS_* flags that keep a mount as it is across mount(2) with MS_REMOUNT, from its
// statvfs f_flag (ST_*): a remount sets the per-mount flags (nosuid, nodev, noexec, the
// atime mode, nosymfollow) and ro/sync to exactly those it is given. A mount with neither
// noatime nor relatime is strictatime, which must then be named, or the kernel's default
// (relatime) would replace it.
unsigned long remount_flags(unsigned long statvfs_flags);

// Remounts the mount at mount_point with filesystem options `data`, keeping its flags
// (remount_flags of its statvfs). Throws readpath::Error
// "mount(<mount point>, MS_REMOUNT, \"<data>\"): <strerror>".
void remount(const std::string& mount_point, const std::string& data);

// myfs hook counting switched off (a remount with counters=off; myfs's remount changes
// only the options it names) for as long as this object says so: on() switches it back and
// reports a failure; the destructor switches it back on every other way out, and
// restore_counting_after_signal on SIGINT, SIGTERM and SIGHUP. One at a time.
class CountingOff {
 public:
  // Throws readpath::Error when the remount is refused (EPERM when not root).
  explicit CountingOff(const std::string& mount_point);
  ~CountingOff();
  CountingOff(const CountingOff&) = delete;
  CountingOff& operator=(const CountingOff&) = delete;
  // Counting on again; throws readpath::Error when the remount fails.
  void on();

 private:
  std::string mount_point_;
  bool off_ = false;
};

// Switches counting back on for a CountingOff that is still off; async-signal-safe, for
// the signal handler (files.hpp set_signal_cleanup).
void restore_counting_after_signal();

}  // namespace readpath
