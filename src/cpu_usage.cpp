// Thread CPU time, run-queue wait and steal (cpu_usage.hpp).
#include "cpu_usage.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace readpath {

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  // cannot fail for the calling thread
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

RunQueueWait::RunQueueWait() : fd_(open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {
  if (fd_ < 0) why_ = std::string("/proc/thread-self/schedstat: ") + std::strerror(errno);
  else if (!ns()) why_ = "/proc/thread-self/schedstat holds no run-queue wait";
}

RunQueueWait::~RunQueueWait() {
  if (fd_ >= 0) close(fd_);
}

std::optional<uint64_t> RunQueueWait::ns() const {
  if (fd_ < 0) return std::nullopt;
  char buf[128];
  const ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);  // a seq_file: offset 0 reads it anew
  if (n <= 0) return std::nullopt;
  return parse_schedstat_wait(std::string_view(buf, static_cast<size_t>(n)));
}

std::optional<uint64_t> parse_schedstat_wait(std::string_view text) {
  std::istringstream in{std::string(text)};
  uint64_t on_cpu = 0, wait = 0;
  if (!(in >> on_cpu >> wait)) return std::nullopt;
  return wait;
}

std::optional<uint64_t> parse_proc_stat_steal(std::string_view text, long ticks_per_second) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  std::istringstream in{std::string(text.substr(0, text.find('\n')))};
  std::string label;
  if (!(in >> label) || label != "cpu" || ticks_per_second <= 0) return std::nullopt;
  uint64_t field = 0;
  for (int i = 0; i < 8; ++i)
    if (!(in >> field)) return std::nullopt;
  return field * (1000000000u / static_cast<uint64_t>(ticks_per_second));
}

std::optional<uint64_t> steal_ns() {
  const int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[512];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  return parse_proc_stat_steal(std::string_view(buf, static_cast<size_t>(n)), sysconf(_SC_CLK_TCK));
}

}  // namespace readpath
