// Placement policies over the hwloc topology, loaded once and only read afterwards.
#include "placement.hpp"

#include <hwloc.h>

#include <mutex>

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
