// Where a timed pass's wall time went besides its own work: the calling thread's CPU time,
// the time it waited on a run queue, and what the hypervisor stole from the machine.
//
// On a shared VM a pass's wall time holds time the thread was runnable but not running
// (another task had its CPU, or the hypervisor ran another guest on it). The thread's CPU
// time (CLOCK_THREAD_CPUTIME_ID) leaves both out: the scheduler charges a task only the
// time it ran, and with CONFIG_PARAVIRT_TIME_ACCOUNTING the clock it charges from excludes
// steal. It counts only this thread: work done for it elsewhere (io_uring's io-wq workers
// and SQPOLL thread, readahead completions in interrupts, a device's wait) is not in it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace readpath {

// This thread's CPU time in ns (user and system).
uint64_t thread_cpu_ns();

// The run-queue wait of one thread, read from its /proc/thread-self/schedstat, opened once
// by that thread (the path names the opener) and re-read per call.
class RunQueueWait {
 public:
  RunQueueWait();  // must be made by the thread it watches
  ~RunQueueWait();
  RunQueueWait(const RunQueueWait&) = delete;
  RunQueueWait& operator=(const RunQueueWait&) = delete;
  // ns waited on a run queue so far; nullopt where the kernel keeps no schedstat.
  std::optional<uint64_t> ns() const;
  // Why there is none ("" when there is).
  const std::string& unavailable() const { return why_; }

 private:
  int fd_ = -1;
  std::string why_;
};

// The second field of a schedstat line ("<on-cpu ns> <run-queue wait ns> <timeslices>");
// nullopt when the text is not one.
std::optional<uint64_t> parse_schedstat_wait(std::string_view text);

// Steal time of all CPUs together in ns, from /proc/stat's first line (USER_HZ ticks, so
// 10 ms grains); nullopt where the line has no steal field.
std::optional<uint64_t> steal_ns();
std::optional<uint64_t> parse_proc_stat_steal(std::string_view text, long ticks_per_second);

}  // namespace readpath
