// mountinfo and myfs stats parsing, and remounting myfs with its counting off and on.
#include "mounts.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "error.hpp"

namespace readpath {
namespace {

std::string unescape(const std::string& s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) &&
        octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool list_has(const std::string& list, std::string_view option) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item == option || item.rfind(std::string(option) + "=", 0) == 0) return true;
  return false;
}

// Linux 5.10 reports nosymfollow in f_flag; glibc headers before 2.34 do not name it.
constexpr unsigned long kStNoSymfollow = 0x2000;

// What restore_counting_after_signal needs, in storage a signal handler may read.
struct PausedCounting {
  std::atomic<bool> off{false};
  char mount_point[PATH_MAX] = {};
  unsigned long flags = 0;
};
PausedCounting g_paused;

bool is_prefix_dir(const std::string& mount_point, const std::string& path) {
  if (mount_point == "/") return true;
  return path.rfind(mount_point, 0) == 0 &&
         (path.size() == mount_point.size() || path[mount_point.size()] == '/');
}

// kmod/myfs.h's MYFS_MAGIC; the module's header is kernel-only (mounts_test holds the
// two equal).
constexpr unsigned long kMyfsMagic = 0x6d796673;

}  // namespace

std::string fs_type_name(unsigned long f_type) {
  static const std::pair<unsigned long, const char*> names[] = {
      {TMPFS_MAGIC, "tmpfs"},         {RAMFS_MAGIC, "ramfs"},           {kMyfsMagic, "myfs"},
      {EXT4_SUPER_MAGIC, "ext2/ext3/ext4"}, {XFS_SUPER_MAGIC, "xfs"},   {BTRFS_SUPER_MAGIC, "btrfs"},
      {F2FS_SUPER_MAGIC, "f2fs"},     {OVERLAYFS_SUPER_MAGIC, "overlay"}, {V9FS_MAGIC, "9p"},
      {NFS_SUPER_MAGIC, "nfs"},       {FUSE_SUPER_MAGIC, "fuse"},       {CEPH_SUPER_MAGIC, "ceph"},
      {CIFS_SUPER_MAGIC, "cifs"},     {SQUASHFS_MAGIC, "squashfs"},     {HUGETLBFS_MAGIC, "hugetlbfs"},
      {PROC_SUPER_MAGIC, "proc"},     {SYSFS_MAGIC, "sysfs"},
  };
  for (const auto& [magic, name] : names)
    if (magic == f_type) return name;
  char hex[32];
  std::snprintf(hex, sizeof hex, "unknown (0x%lx)", f_type);
  return hex;
}

bool MountInfo::has_option(std::string_view option) const {
  return list_has(mount_options, option) || list_has(super_options, option);
}

std::string MountInfo::options() const {
  // Both lists, without repeating what the superblock list repeats (rw, ro).
  std::string out = mount_options;
  std::stringstream ss(super_options);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty() && !list_has(mount_options, item)) out.append(out.empty() ? "" : ",").append(item);
  return out;
}

std::vector<MountInfo> parse_mountinfo(std::istream& in) {
  std::vector<MountInfo> mounts;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point, mount_options;
    if (!(fields >> id >> parent >> dev >> root >> mount_point >> mount_options)) continue;
    std::string tag;
    while (fields >> tag && tag != "-") {
    }  // optional fields end at "-"
    MountInfo m;
    if (!(fields >> m.fstype >> m.source)) continue;
    fields >> m.super_options;
    const auto colon = dev.find(':');
    if (colon == std::string::npos) continue;
    m.major = static_cast<unsigned>(std::strtoul(dev.c_str(), nullptr, 10));
    m.minor = static_cast<unsigned>(std::strtoul(dev.c_str() + colon + 1, nullptr, 10));
    m.mount_point = unescape(mount_point);
    m.source = unescape(m.source);
    m.mount_options = mount_options;
    mounts.push_back(std::move(m));
  }
  return mounts;
}

MountInfo mount_of(const std::string& path, const std::string& mountinfo) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw sys_error("stat " + path);
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) throw sys_error("realpath " + path);
  const std::string resolved(real);
  free(real);
  std::ifstream in(mountinfo);
  if (!in) throw sys_error("open " + mountinfo);
  const MountInfo* best = nullptr;
  const auto mounts = parse_mountinfo(in);
  for (const auto& m : mounts) {
    if (m.major != major(st.st_dev) || m.minor != minor(st.st_dev)) continue;
    if (!is_prefix_dir(m.mount_point, resolved)) continue;
    if (best == nullptr || m.mount_point.size() >= best->mount_point.size()) best = &m;
  }
  if (best != nullptr) return *best;

  struct statfs fs {};
  if (statfs(resolved.c_str(), &fs) != 0) throw sys_error("statfs " + resolved);
  MountInfo m;
  m.major = major(st.st_dev);
  m.minor = minor(st.st_dev);
  m.fstype = fs_type_name(static_cast<unsigned long>(fs.f_type));
  m.from_mountinfo = false;
  m.note = "no mount in " + mountinfo + " holds " + resolved + " (device " + std::to_string(m.major) + ":" +
           std::to_string(m.minor) + "; in a chroot it can lie outside the root): type " + m.fstype +
           " from statfs, mount point, source and options unknown";
  return m;
}

Counters parse_stats(std::string_view text) {
  Counters out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string name, value, extra;
    if (!(fields >> name >> value) || (fields >> extra))
      throw Error("myfs stats: malformed line \"" + line + "\"");
    char* endp = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(value.c_str(), &endp, 10);
    if (errno != 0 || *endp != '\0' || value[0] == '-')
      throw Error("myfs stats: bad value in \"" + line + "\"");
    out.emplace_back(name, v);
  }
  return out;
}

Counters read_stats(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw sys_error("open " + path);
  char buf[8192];
  const ssize_t n = read(fd, buf, sizeof buf);
  const int err = errno;
  close(fd);
  if (n < 0) throw sys_error("read " + path, err);
  return parse_stats(std::string_view(buf, static_cast<size_t>(n)));
}

std::string myfs_stats_path(const MountInfo& mount) {
  return "/sys/fs/myfs/" + std::to_string(mount.major) + ":" + std::to_string(mount.minor) + "/stats";
}

Counters counter_delta(const Counters& before, const Counters& after) {
  Counters delta;
  for (const auto& [name, value] : after) {
    uint64_t old = 0;
    for (const auto& [n, v] : before)
      if (n == name) old = v;
    delta.emplace_back(name, value - old);
  }
  return delta;
}

unsigned long remount_flags(unsigned long statvfs_flags) {
  static const std::pair<unsigned long, unsigned long> kept[] = {
      {ST_RDONLY, MS_RDONLY},       {ST_NOSUID, MS_NOSUID},         {ST_NODEV, MS_NODEV},
      {ST_NOEXEC, MS_NOEXEC},       {ST_SYNCHRONOUS, MS_SYNCHRONOUS}, {ST_NOATIME, MS_NOATIME},
      {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},     {kStNoSymfollow, MS_NOSYMFOLLOW},
  };
  unsigned long flags = 0;
  for (auto [st, ms] : kept)
    if (statvfs_flags & st) flags |= ms;
  if (!(statvfs_flags & (ST_NOATIME | ST_RELATIME))) flags |= MS_STRICTATIME;
  return flags;
}

namespace {

unsigned long current_remount_flags(const std::string& mount_point) {
  struct statvfs vfs {};
  if (statvfs(mount_point.c_str(), &vfs) != 0) throw sys_error("statvfs " + mount_point);
  return remount_flags(vfs.f_flag);
}

void remount_with(const std::string& mount_point, unsigned long flags, const std::string& data) {
  if (mount(nullptr, mount_point.c_str(), nullptr, MS_REMOUNT | flags, data.c_str()) != 0)
    throw sys_error("mount(" + mount_point + ", MS_REMOUNT, \"" + data + "\")");
}

}  // namespace

void remount(const std::string& mount_point, const std::string& data) {
  remount_with(mount_point, current_remount_flags(mount_point), data);
}

CountingOff::CountingOff(const std::string& mount_point) : mount_point_(mount_point) {
  if (mount_point.size() >= sizeof g_paused.mount_point) throw Error("mount point too long: " + mount_point);
  if (g_paused.off.load()) throw Error("myfs counting is already off for " + std::string(g_paused.mount_point));
  const unsigned long flags = current_remount_flags(mount_point);
  std::memcpy(g_paused.mount_point, mount_point.c_str(), mount_point.size() + 1);
  g_paused.flags = flags;
  // Armed before the remount: a signal in between turns counting on, which it already is.
  g_paused.off.store(true);
  try {
    remount_with(mount_point, flags, "counters=off");
  } catch (...) {
    g_paused.off.store(false);
    throw;
  }
  off_ = true;
}

void CountingOff::on() {
  if (!off_) return;
  remount(mount_point_, "counters=on");  // when this throws, the destructor tries once more
  off_ = false;
  g_paused.off.store(false);
}

CountingOff::~CountingOff() {
  try {
    on();
  } catch (const Error& e) {
    std::fprintf(stderr, "readpath: myfs counting stays off: %s\n", e.what());
  }
}

void restore_counting_after_signal() {
  if (g_paused.off.exchange(false))
    mount(nullptr, g_paused.mount_point, nullptr, MS_REMOUNT | g_paused.flags, "counters=on");
}

}  // namespace readpath
