// sysfs: /sys/dev/block/MAJ:MIN links to the device's directory; a partition's directory has
// a `partition` file and sits inside its disk's, which holds queue/, device/ and (blk-mq
// only) mq/.
#include "blockdev.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "error.hpp"

namespace readpath {
namespace {

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The file's first line without trailing blanks (SCSI models are padded), or "" when unreadable.
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
  return line;
}

std::string base_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }
std::string dir_name(const std::string& path) { return path.substr(0, path.find_last_of('/')); }

// Drivers that make disks without a parent device, known by their disks' names.
std::string driver_by_name(const std::string& disk) {
  static const std::pair<const char*, const char*> known[] = {
      {"nullb", "null_blk"}, {"ram", "brd"}, {"loop", "loop"}, {"zram", "zram"}, {"dm-", "device-mapper"},
      {"md", "md"}};
  for (const auto& [prefix, driver] : known)
    if (disk.rfind(prefix, 0) == 0) return driver;
  return "unknown";
}

std::string model_of(const std::string& disk_dir) {
  if (std::string model = first_line(disk_dir + "/device/model"); !model.empty()) return model;
  char target[PATH_MAX];
  const std::string link = disk_dir + "/device/driver";
  if (const ssize_t n = readlink(link.c_str(), target, sizeof target - 1); n > 0)
    return base_name(std::string(target, static_cast<size_t>(n)));
  return driver_by_name(base_name(disk_dir));
}

std::string scheduler_of(const std::string& disk_dir) {
  const std::string text = first_line(disk_dir + "/queue/scheduler");
  if (const std::string selected = selected_scheduler(text); !selected.empty()) return selected;
  // No choice offered: a blk-mq queue runs without a scheduler, a bio-based one has none at all.
  return exists(disk_dir + "/mq") ? "none" : "n/a";
}

}  // namespace

std::optional<BlockDevice> block_device_of(unsigned major, unsigned minor, const std::string& sysfs_root) {
  const std::string link = sysfs_root + "/dev/block/" + std::to_string(major) + ":" + std::to_string(minor);
  char* resolved = realpath(link.c_str(), nullptr);
  if (resolved == nullptr) return std::nullopt;  // no such block device
  const std::string dir = resolved;
  std::free(resolved);
  const bool partition = exists(dir + "/partition");
  const std::string disk_dir = partition ? dir_name(dir) : dir;
  BlockDevice dev;
  dev.name = base_name(dir);
  dev.disk = base_name(disk_dir);
  dev.scheduler = scheduler_of(disk_dir);
  dev.model = model_of(disk_dir);
  dev.read_ahead_kb = first_line(disk_dir + "/queue/read_ahead_kb");
  if (dev.read_ahead_kb.empty()) dev.read_ahead_kb = "unknown";
  dev.stat_path = dir + "/stat";
  dev.counts_io = first_line(disk_dir + "/queue/iostats") != "0";
  return dev;
}

BlockReads BlockReads::operator-(const BlockReads& before) const {
  return {ios - before.ios, merges - before.merges, sectors - before.sectors, ms - before.ms};
}

BlockReads parse_block_stat(std::string_view text) {
  std::istringstream in{std::string(text)};
  uint64_t field[4];
  for (uint64_t& f : field)
    if (!(in >> f)) throw Error("block stat: expected at least 4 numbers, got \"" + std::string(text) + "\"");
  return {field[0], field[1], field[2], field[3]};
}

BlockReads read_block_stat(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw sys_error("open " + path);
  char buf[512];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  const int err = errno;
  close(fd);
  if (n < 0) throw sys_error("read " + path, err);
  try {
    return parse_block_stat(std::string_view(buf, static_cast<size_t>(n)));
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::string selected_scheduler(std::string_view text) {
  const auto open = text.find('['), close = text.find(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2) return "";
  return std::string(text.substr(open + 1, close - open - 1));
}

}  // namespace readpath
