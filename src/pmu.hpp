// Hardware counts of the timed passes where a PMU is there to count them (a real host, KVM
// with a virtual PMU): instructions and cycles, user and kernel apart, of the calling thread,
// through perf_event_open(2). Where the kernel refuses an event (no PMU, as under QEMU TCG or
// on many cloud VMs; perf_event_paranoid) nothing is counted and the reason is kept: a
// counter that cannot count is never written as zero.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace readpath {

// One event of a group: perf_event_attr's type and config, and which privilege level it
// leaves out.
struct PmuEvent {
  std::string name;  // what the counter is called: "instructions:u"
  uint32_t type;
  uint64_t config;
  bool exclude_user = false, exclude_kernel = false;
};

// instructions:u, instructions:k, cycles:u, cycles:k (PERF_TYPE_HARDWARE).
const std::vector<PmuEvent>& hardware_events();

// The events of one group, counting the calling thread (and only it: no inheritance) while
// started. Counts add up over start/stop pairs.
class PmuCounters {
 public:
  // Opens the group, disabled; throws readpath::Error naming the first event the kernel
  // refused and why.
  explicit PmuCounters(const std::vector<PmuEvent>& events);
  ~PmuCounters();
  PmuCounters(const PmuCounters&) = delete;
  PmuCounters& operator=(const PmuCounters&) = delete;
  void start();
  void stop();
  struct Counts {
    std::vector<uint64_t> values;  // per event, in order; scaled up when multiplexed
    double running_share = 1;      // of the enabled time the PMU counted them (1: always)
  };
  // What the events counted so far; throws readpath::Error when the PMU never ran them.
  Counts read() const;

 private:
  std::vector<int> fds_;  // [0] is the group leader
};

// "" when the hardware events open for this thread, else why not (for the run's context).
std::string pmu_unavailable();

}  // namespace readpath
