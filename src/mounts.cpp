// mountinfo and myfs stats parsing.
#include "mounts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
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

bool is_prefix_dir(const std::string& mount_point, const std::string& path) {
  if (mount_point == "/") return true;
  return path.rfind(mount_point, 0) == 0 &&
         (path.size() == mount_point.size() || path[mount_point.size()] == '/');
}

}  // namespace

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
  if (best == nullptr)
    throw Error("no mount in " + mountinfo + " holds " + resolved + " (device " +
                std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) + ")");
  return *best;
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

}  // namespace readpath
