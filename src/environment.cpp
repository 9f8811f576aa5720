// Environment capture and size parsing.
#include "environment.hpp"

#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "blockdev.hpp"
#include "error.hpp"
#include "mounts.hpp"

#ifndef READPATH_SOURCE_DIR
#define READPATH_SOURCE_DIR "."
#endif

namespace readpath {
namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "unknown";
  return line;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      std::string v = line.substr(line.find(':') + 1);
      return v.substr(v.find_first_not_of(' '));
    }
  }
  return "unknown";
}

// "always [madvise] never" → "madvise"
std::string bracketed(const std::string& line) {
  const auto open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return line;
  return line.substr(open + 1, close - open - 1);
}

std::string commit() {
  std::string out;
  if (FILE* p = popen("git -C '" READPATH_SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null", "r")) {
    char buf[64];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

// Proactive reclaim (DAMON) can page out a warm file mid-run; warm cells check for it,
// and the context says whether it is on.
std::string damon() {
  const std::string admin = "/sys/kernel/mm/damon/admin/kdamonds/";
  const std::string count = first_line(admin + "nr_kdamonds");
  if (count == "unknown") return "absent";
  const int n = std::atoi(count.c_str());
  int on = 0;
  for (int i = 0; i < n; ++i) on += first_line(admin + std::to_string(i) + "/state") == "on";
  return on > 0 ? "on (" + std::to_string(on) + " kdamond" + (on == 1 ? ")" : "s)") : "off";
}

}  // namespace

std::string accel() {
  const char* v = std::getenv("READPATH_ACCEL");
  return v && *v ? v : "host";
}

Context capture_environment(const std::string& dir) {
  Context ctx;
  utsname u{};
  ctx.emplace_back("kernel", uname(&u) == 0 ? u.release : "unknown");
  std::string fs = "unknown", options = "unknown", read_ahead = "n/a", fs_note;
  std::optional<BlockDevice> device;
  try {
    const MountInfo m = mount_of(dir);
    fs = m.fstype;
    if (m.from_mountinfo) options = m.options();
    fs_note = m.note;
    const std::string bdi = "/sys/class/bdi/" + std::to_string(m.major) + ":" + std::to_string(m.minor) + "/read_ahead_kb";
    std::ifstream probe(bdi);
    if (probe) read_ahead = first_line(bdi);
    // On a block device the queue's value: a partition has no bdi of its own.
    device = block_device_of(m.major, m.minor);
    if (device) read_ahead = device->read_ahead_kb;
  } catch (const Error&) {
  }
  ctx.emplace_back("fs", fs + " (" + options + ")");
  ctx.emplace_back("fs_options", options);
  if (!fs_note.empty()) ctx.emplace_back("fs_note", fs_note);
  ctx.emplace_back("accel", accel());
  ctx.emplace_back("cpu_model", cpu_model());
  ctx.emplace_back("thp", bracketed(first_line("/sys/kernel/mm/transparent_hugepage/enabled")));
  ctx.emplace_back("read_ahead_kb", read_ahead);
  if (device) {
    ctx.emplace_back("block_device", device->name);
    ctx.emplace_back("block_scheduler", device->scheduler);
    ctx.emplace_back("block_model", device->model);
  }
  ctx.emplace_back("fault_around_bytes", first_line("/sys/kernel/debug/fault_around_bytes"));
  std::string governor = first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  ctx.emplace_back("governor", governor == "unknown" ? "none (no cpufreq)" : governor);
  ctx.emplace_back("damon", damon());
  ctx.emplace_back("readpath_commit", commit());
  return ctx;
}

uint64_t parse_size(std::string_view text) {
  const std::string s(text);
  if (s.empty() || s[0] < '0' || s[0] > '9') throw Error("bad size \"" + s + "\": expected e.g. 4096, 64K, 1M, 1G");
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0) throw Error("bad size \"" + s + "\": out of range");
  std::string suffix(end);
  // Accept 4K, 4KB, 4KiB alike: all binary.
  if (suffix.size() > 1 && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();
  if (suffix.size() > 1 && suffix.back() == 'i') suffix.pop_back();
  unsigned shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else throw Error("bad size \"" + s + "\": unknown suffix \"" + std::string(end) + "\" (use K, M or G)");
  if (v == 0) throw Error("bad size \"" + s + "\": must be positive");
  if (shift && v > (~0ull >> shift)) throw Error("bad size \"" + s + "\": out of range");
  return static_cast<uint64_t>(v) << shift;
}

std::vector<uint64_t> parse_size_list(std::string_view text) {
  std::vector<uint64_t> out;
  std::stringstream ss{std::string(text)};
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(parse_size(item));
  if (out.empty()) throw Error("empty size list");
  return out;
}

std::string format_size(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "G";
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes >= (1ull << 10) && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

uint64_t memory_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit)
    if (key == "MemAvailable:") return value * 1024;
  return 0;
}

}  // namespace readpath
