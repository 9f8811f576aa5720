// Placement policies over the hwloc topology, loaded once and only read afterwards.
#include "placement.hpp"

#include <dirent.h>
#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "error.hpp"

namespace readpath {
namespace {

hwloc_topology_t topology() {
  static hwloc_topology_t topo = [] {
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) throw sys_error("hwloc_topology_init");
    if (hwloc_topology_load(t) != 0) throw sys_error("hwloc_topology_load");
    return t;
  }();
  return topo;
}

int count(hwloc_obj_type_t type) { return hwloc_get_nbobjs_by_type(topology(), type); }

std::vector<unsigned> pus_of(hwloc_const_cpuset_t set) {
  std::vector<unsigned> out;
  unsigned i;
  hwloc_bitmap_foreach_begin(i, set) { out.push_back(i); }
  hwloc_bitmap_foreach_end();
  return out;
}

std::vector<unsigned> pus_of_obj(hwloc_obj_type_t type, int index) {
  hwloc_obj_t obj = hwloc_get_obj_by_type(topology(), type, static_cast<unsigned>(index));
  return obj ? pus_of(obj->cpuset) : std::vector<unsigned>{};
}

// A CPU not in `used`, preferring one that shares a core, then a package, with `near`.
int helper_for(const std::vector<unsigned>& near, const std::vector<unsigned>& used) {
  auto unused = [&](unsigned cpu) {
    for (unsigned u : used)
      if (u == cpu) return false;
    return true;
  };
  if (near.empty()) return -1;
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topology(), near.front());
  for (hwloc_obj_type_t type : {HWLOC_OBJ_CORE, HWLOC_OBJ_PACKAGE, HWLOC_OBJ_MACHINE}) {
    hwloc_obj_t anc = pu ? hwloc_get_ancestor_obj_by_type(topology(), type, pu) : nullptr;
    if (anc == nullptr) continue;
    for (unsigned cpu : pus_of(anc->cpuset))
      if (unused(cpu)) return static_cast<int>(cpu);
  }
  return -1;
}

std::string plural(int n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

const std::vector<std::string_view>& placement_names() {
  static const std::vector<std::string_view> names = {"none", "core", "smt", "cores", "packages", "numa"};
  return names;
}

Placement parse_placement(std::string_view name) {
  const auto& names = placement_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Placement>(i);
  std::string all;
  for (auto n : names) all.append(all.empty() ? "" : ", ").append(n);
  throw Error("unknown placement \"" + std::string(name) + "\"; choose one of " + all);
}

std::string_view placement_name(Placement placement) {
  return placement_names()[static_cast<size_t>(placement)];
}

std::string topology_summary() {
  return plural(count(HWLOC_OBJ_PACKAGE), "package") + ", " +
         plural(count(HWLOC_OBJ_NUMANODE), "NUMA node") + ", " +
         plural(count(HWLOC_OBJ_CORE), "core") + ", " +
         plural(count(HWLOC_OBJ_PU), "hardware thread");
}

std::vector<ThreadPlace> plan_placement(Placement policy, unsigned threads) {
  if (threads == 0) throw Error("placement: at least one thread");
  std::vector<ThreadPlace> plan(threads);
  const int n = static_cast<int>(threads);
  switch (policy) {
    case Placement::none:
      return plan;
    case Placement::core: {
      const auto cpus = pus_of_obj(HWLOC_OBJ_CORE, 0);
      if (cpus.empty()) throw Error("placement core: hwloc finds no core");
      for (auto& p : plan) p.cpus = cpus;
      break;
    }
    case Placement::smt: {
      const int want = std::max(n, 2);
      int widest = 0;
      for (int c = 0; c < count(HWLOC_OBJ_CORE); ++c) {
        const auto cpus = pus_of_obj(HWLOC_OBJ_CORE, c);
        widest = std::max(widest, static_cast<int>(cpus.size()));
        if (static_cast<int>(cpus.size()) < want) continue;
        for (int i = 0; i < n; ++i) plan[i].cpus = {cpus[i]};
        break;
      }
      if (plan[0].cpus.empty())
        throw Error("placement smt needs a core with " + plural(want, "hardware thread") +
                    "; the cores here have at most " + std::to_string(widest));
      break;
    }
    case Placement::cores:
    case Placement::packages:
    case Placement::numa: {
      const hwloc_obj_type_t type = policy == Placement::cores      ? HWLOC_OBJ_CORE
                                    : policy == Placement::packages ? HWLOC_OBJ_PACKAGE
                                                                    : HWLOC_OBJ_NUMANODE;
      const char* what = policy == Placement::cores ? "core" : policy == Placement::packages ? "package" : "NUMA node";
      // "Separate" packages or nodes need two of them even for one thread.
      const int want = policy == Placement::cores ? n : std::max(n, 2);
      if (count(type) < want)
        throw Error(std::string("placement ") + std::string(placement_name(policy)) + " needs " +
                    plural(want, what) + "; this machine has " + std::to_string(count(type)));
      for (int i = 0; i < n; ++i) {
        plan[i].cpus = pus_of_obj(type, i);
        if (policy == Placement::cores) plan[i].cpus.resize(1);
      }
      break;
    }
  }
  std::vector<unsigned> used;
  for (const auto& p : plan) used.insert(used.end(), p.cpus.begin(), p.cpus.end());
  for (auto& p : plan) p.helper_cpu = helper_for(p.cpus, used);
  return plan;
}

ScopedAffinity::ScopedAffinity(const ThreadPlace& place) {
  if (place.cpus.empty()) return;
  if (sched_getaffinity(0, sizeof saved_, &saved_) != 0) throw sys_error("sched_getaffinity");
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned cpu : place.cpus) CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) throw sys_error("sched_setaffinity");
  bound_ = true;
}

ScopedAffinity::~ScopedAffinity() {
  if (bound_) sched_setaffinity(0, sizeof saved_, &saved_);
}

std::vector<unsigned> allowed_cpus(pid_t tid) {
  // Grow the set until it holds the kernel's CPU mask (EINVAL: too small).
  for (int ncpus = 1024;; ncpus *= 2) {
    std::unique_ptr<cpu_set_t, void (*)(cpu_set_t*)> set(CPU_ALLOC(ncpus), [](cpu_set_t* s) { CPU_FREE(s); });
    if (!set) throw Error("CPU_ALLOC: out of memory");
    const size_t bytes = CPU_ALLOC_SIZE(ncpus);
    if (sched_getaffinity(tid, bytes, set.get()) != 0) {
      if (errno == EINVAL && ncpus < (1 << 20)) continue;
      throw sys_error("sched_getaffinity(" + std::to_string(tid) + ")");
    }
    std::vector<unsigned> cpus;
    for (int cpu = 0; cpu < ncpus; ++cpu)
      if (CPU_ISSET_S(cpu, bytes, set.get())) cpus.push_back(static_cast<unsigned>(cpu));
    return cpus;
  }
}

const std::vector<unsigned>& usable_cpus() {
  static const std::vector<unsigned> cpus = pus_of(hwloc_topology_get_allowed_cpuset(topology()));
  return cpus;
}

std::string cpu_list(const std::vector<unsigned>& cpus) {
  std::vector<unsigned> sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    out.append(out.empty() ? "" : ",").append(std::to_string(sorted[i]));
    if (j > i) out.append(j == i + 1 ? "," : "-").append(std::to_string(sorted[j]));
    i = j + 1;
  }
  return out.empty() ? "none" : out;
}

std::string placement_seen(bool pinned, const std::vector<unsigned>& allowed, const std::vector<unsigned>& ran) {
  std::vector<unsigned> sorted = allowed;
  std::sort(sorted.begin(), sorted.end());
  const bool everywhere = !pinned && sorted == usable_cpus();
  return (everywhere ? std::string("unpinned") : "cpus " + cpu_list(allowed)) + " ran " + cpu_list(ran);
}

int stat_processor(const std::string& stat) {
  // The command name is the one field that may hold spaces and ')': skip to its last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) throw Error("malformed stat line (no command name): " + stat);
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int number = 3; fields >> field; ++number) {
    if (number != 39) continue;
    char* end = nullptr;
    const long cpu = std::strtol(field.c_str(), &end, 10);
    if (*end != '\0' || cpu < 0) throw Error("malformed stat line (processor \"" + field + "\")");
    return static_cast<int>(cpu);
  }
  throw Error("malformed stat line (fewer than 39 fields)");
}

std::optional<ThreadSighting> find_thread(const std::string& name) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc/self/task"), closedir);
  if (!dir) throw sys_error("opendir /proc/self/task");
  while (const dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] == '.') continue;
    const std::string task = std::string("/proc/self/task/") + entry->d_name;
    std::string comm, stat;
    // A thread that ended meanwhile has no files left: not the one we look for.
    if (!std::getline(std::ifstream(task + "/comm"), comm) || comm != name) continue;
    if (!std::getline(std::ifstream(task + "/stat"), stat)) throw Error("cannot read " + task + "/stat");
    ThreadSighting seen;
    seen.tid = static_cast<pid_t>(std::atoi(entry->d_name));
    seen.last_cpu = stat_processor(stat);
    seen.allowed = allowed_cpus(seen.tid);
    return seen;
  }
  return std::nullopt;
}

void bind_memory_to_current_node(void* addr, size_t len) {
  if (count(HWLOC_OBJ_NUMANODE) < 2) return;
  hwloc_cpuset_t cpus = hwloc_bitmap_alloc();
  hwloc_nodeset_t nodes = hwloc_bitmap_alloc();
  if (hwloc_get_cpubind(topology(), cpus, HWLOC_CPUBIND_THREAD) == 0) {
    hwloc_cpuset_to_nodeset(topology(), cpus, nodes);
    if (hwloc_bitmap_weight(nodes) == 1 &&
        hwloc_set_area_membind(topology(), addr, len, nodes, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_BYNODESET) != 0) {
      const int err = errno;
      hwloc_bitmap_free(cpus);
      hwloc_bitmap_free(nodes);
      throw sys_error("hwloc_set_area_membind", err);
    }
  }
  hwloc_bitmap_free(cpus);
  hwloc_bitmap_free(nodes);
}

}  // namespace readpath
