// CPU placement of reader threads (hwloc): which CPUs each thread runs on, where the
// io_uring SQPOLL thread goes, binding I/O buffers to the reader's NUMA node, and what
// the kernel actually did: the CPUs a thread may use and the ones it was seen on.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace readpath {

enum class Placement {
  none,      // unpinned: the scheduler decides
  core,      // every thread on the hardware threads of one core
  smt,       // thread i on hardware thread i of one core (SMT siblings)
  cores,     // thread i alone on core i
  packages,  // thread i on package (socket) i
  numa,      // thread i on NUMA node i, its buffers bound to that node
};

// The policy called name (the enum's names), or throws readpath::Error listing them.
Placement parse_placement(std::string_view name);
std::string_view placement_name(Placement placement);
const std::vector<std::string_view>& placement_names();

struct ThreadPlace {
  std::vector<unsigned> cpus;  // OS CPU numbers the thread may run on; empty: unpinned
  int helper_cpu = -1;         // a CPU near the thread but not its own (SQPOLL); -1: none
};

// Places `threads` reader threads by policy on this machine's topology. Throws
// readpath::Error saying what the topology lacks (e.g. "smt needs a core with 2 hardware
// threads; the cores here have 1").
std::vector<ThreadPlace> plan_placement(Placement policy, unsigned threads);

// "1 package, 1 NUMA node, 2 cores, 2 hardware threads"
std::string topology_summary();

// Restricts the calling thread to place.cpus (nothing when empty); the destructor
// restores the affinity the thread had before.
class ScopedAffinity {
 public:
  explicit ScopedAffinity(const ThreadPlace& place);
  ~ScopedAffinity();
  ScopedAffinity(const ScopedAffinity&) = delete;
  ScopedAffinity& operator=(const ScopedAffinity&) = delete;

 private:
  cpu_set_t saved_{};
  bool bound_ = false;
};

// The CPUs thread `tid` may run on (0: the calling thread), read back with
// sched_getaffinity; throws readpath::Error.
std::vector<unsigned> allowed_cpus(pid_t tid = 0);

// Every CPU this process may use (hwloc's view at start-up): a thread allowed all of them
// is effectively unpinned.
const std::vector<unsigned>& usable_cpus();

// Sorted CPU numbers as ranges: {0, 1, 2, 5} → "0-2,5"; {} → "none".
std::string cpu_list(const std::vector<unsigned>& cpus);

// How one thread of a cell ran: "cpus 1 ran 1" (pinned, or confined from outside) or
// "unpinned ran 0,1" (asked for no pinning and allowed every usable CPU).
std::string placement_seen(bool pinned, const std::vector<unsigned>& allowed, const std::vector<unsigned>& ran);

// A thread of this process as observed in /proc/self/task.
struct ThreadSighting {
  pid_t tid = 0;
  int last_cpu = -1;               // where it last ran (field 39 of its stat)
  std::vector<unsigned> allowed;   // sched_getaffinity
};

// The thread of this process whose comm is `name`, or nullopt; throws readpath::Error
// when /proc/self/task cannot be read.
std::optional<ThreadSighting> find_thread(const std::string& name);

// Field 39 (processor: the CPU the task last ran on) of a /proc/<pid>/stat line, whose
// second field, the command name in parentheses, may hold spaces and parentheses.
// Throws readpath::Error on a malformed line.
int stat_processor(const std::string& stat);

// Binds [addr, addr + len) to the NUMA node of the calling thread's CPUs when the machine
// has several nodes and the thread is confined to one; otherwise does nothing.
void bind_memory_to_current_node(void* addr, size_t len);

}  // namespace readpath
