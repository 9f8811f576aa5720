// perf_event_open(2) for the hardware counts of the timed passes.
#include "pmu.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "error.hpp"

namespace readpath {

namespace {

int perf_event_open(perf_event_attr& attr, int group) {
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, 0 /* this thread */, -1 /* any CPU */, group,
                                  PERF_FLAG_FD_CLOEXEC));
}

std::string refusal(const PmuEvent& event, int err) {
  std::string why = event.name + ": " + std::strerror(err);
  if (err == ENOENT || err == EOPNOTSUPP || err == ENODEV)
    why += " (no PMU counts it here: a VM without a virtual PMU, QEMU TCG, or an unknown CPU)";
  else if (err == EACCES || err == EPERM)
    why += " (kernel.perf_event_paranoid forbids it to this user; root may)";
  return why;
}

}  // namespace

const std::vector<PmuEvent>& hardware_events() {
  static const std::vector<PmuEvent> events = {
      {"instructions:u", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, false, true},
      {"instructions:k", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, true, false},
      {"cycles:u", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, false, true},
      {"cycles:k", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, true, false},
  };
  return events;
}

PmuCounters::PmuCounters(const std::vector<PmuEvent>& events) {
  for (const PmuEvent& event : events) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = event.type;
    attr.config = event.config;
    attr.disabled = fds_.empty() ? 1 : 0;  // the leader starts and stops the group
    attr.exclude_user = event.exclude_user ? 1 : 0;
    attr.exclude_kernel = event.exclude_kernel ? 1 : 0;
    attr.exclude_hv = 1;
    attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    const int fd = perf_event_open(attr, fds_.empty() ? -1 : fds_[0]);
    if (fd < 0) {
      const int err = errno;
      for (int opened : fds_) close(opened);  // no destructor runs for a constructor that throws
      throw Error(refusal(event, err));
    }
    fds_.push_back(fd);
  }
}

PmuCounters::~PmuCounters() {
  for (int fd : fds_) close(fd);
}

void PmuCounters::start() {
  if (ioctl(fds_.at(0), PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP) != 0) throw sys_error("perf_event enable");
}

void PmuCounters::stop() {
  if (ioctl(fds_.at(0), PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP) != 0) throw sys_error("perf_event disable");
}

PmuCounters::Counts PmuCounters::read() const {
  // PERF_FORMAT_GROUP: nr, time_enabled, time_running, then a value per event.
  std::vector<uint64_t> buffer(3 + fds_.size());
  const ssize_t n = ::read(fds_.at(0), buffer.data(), buffer.size() * sizeof(uint64_t));
  if (n < 0) throw sys_error("read perf_event group");
  if (static_cast<size_t>(n) != buffer.size() * sizeof(uint64_t) || buffer[0] != fds_.size())
    throw Error("perf_event group: a short read");
  const uint64_t enabled = buffer[1], running = buffer[2];
  Counts counts;
  if (enabled == 0) {  // never started: nothing to count, nothing to scale
    counts.values.assign(fds_.size(), 0);
    return counts;
  }
  if (running == 0) throw Error("perf_event: the PMU never counted the passes (its counters were busy)");
  counts.running_share = static_cast<double>(running) / static_cast<double>(enabled);
  for (size_t i = 0; i < fds_.size(); ++i)
    counts.values.push_back(running == enabled ? buffer[3 + i]
                                               : static_cast<uint64_t>(static_cast<double>(buffer[3 + i]) /
                                                                       counts.running_share));
  return counts;
}

std::string pmu_unavailable() {
  try {
    PmuCounters probe(hardware_events());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace readpath
