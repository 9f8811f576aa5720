// Placement policies on this machine's real topology, and what the kernel is seen doing.
#include <gtest/gtest.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <thread>

#include "error.hpp"
#include "placement.hpp"

namespace readpath {
namespace {

int count_of(hwloc_obj_type_t type) {
  hwloc_topology_t t;
  hwloc_topology_init(&t);
  hwloc_topology_load(t);
  const int n = hwloc_get_nbobjs_by_type(t, type);
  hwloc_topology_destroy(t);
  return n;
}

TEST(Placement, ParsesEveryName) {
  for (auto name : placement_names()) EXPECT_EQ(placement_name(parse_placement(name)), name);
}

TEST(Placement, UnknownNameListsTheChoices) {
  try {
    parse_placement("socket");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("packages"), std::string::npos) << e.what();
  }
}

TEST(Placement, NoneLeavesThreadsUnpinned) {
  for (const auto& p : plan_placement(Placement::none, 3)) {
    EXPECT_TRUE(p.cpus.empty());
    EXPECT_EQ(p.helper_cpu, -1);
  }
}

TEST(Placement, CorePutsAllThreadsOnOneCore) {
  const auto plan = plan_placement(Placement::core, 2);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_FALSE(plan[0].cpus.empty());
  EXPECT_EQ(plan[0].cpus, plan[1].cpus);
}

TEST(Placement, CoresGivesEachThreadItsOwnCpu) {
  const int cores = count_of(HWLOC_OBJ_CORE);
  const auto plan = plan_placement(Placement::cores, static_cast<unsigned>(cores));
  for (int i = 0; i < cores; ++i) {
    ASSERT_EQ(plan[i].cpus.size(), 1u);
    for (int j = 0; j < i; ++j) EXPECT_NE(plan[i].cpus[0], plan[j].cpus[0]);
  }
  EXPECT_THROW(plan_placement(Placement::cores, static_cast<unsigned>(cores) + 1), Error);
}

TEST(Placement, SmtNeedsSiblings) {
  const int pus = count_of(HWLOC_OBJ_PU), cores = count_of(HWLOC_OBJ_CORE);
  if (pus > cores) {
    const auto plan = plan_placement(Placement::smt, 2);
    EXPECT_NE(plan[0].cpus, plan[1].cpus);
  } else {
    try {
      plan_placement(Placement::smt, 2);
      FAIL() << "smt placement without SMT";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("hardware threads"), std::string::npos) << e.what();
    }
  }
}

TEST(Placement, SeparatePackagesNeedTwo) {
  if (count_of(HWLOC_OBJ_PACKAGE) >= 2) GTEST_SKIP() << "this machine has several packages";
  EXPECT_THROW(plan_placement(Placement::packages, 1), Error);
  EXPECT_THROW(plan_placement(Placement::numa, 1), Error);
}

TEST(Placement, HelperCpuIsNotTheThreadsOwn) {
  if (count_of(HWLOC_OBJ_PU) < 2) GTEST_SKIP() << "one hardware thread: no helper CPU";
  const auto plan = plan_placement(Placement::cores, 1);
  EXPECT_GE(plan[0].helper_cpu, 0);
  EXPECT_NE(static_cast<unsigned>(plan[0].helper_cpu), plan[0].cpus[0]);
}

TEST(Placement, AffinityIsAppliedAndRestored) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  const auto plan = plan_placement(Placement::cores, 1);
  {
    ScopedAffinity pin(plan[0]);
    cpu_set_t now;
    ASSERT_EQ(sched_getaffinity(0, sizeof now, &now), 0);
    EXPECT_EQ(CPU_COUNT(&now), 1);
    EXPECT_TRUE(CPU_ISSET(plan[0].cpus[0], &now));
  }
  cpu_set_t after;
  ASSERT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(Placement, AllowedCpusReadBackThePinning) {
  const auto plan = plan_placement(Placement::cores, 1);
  ScopedAffinity pin(plan[0]);
  EXPECT_EQ(allowed_cpus(), plan[0].cpus);
}

TEST(CpuList, ShowsRangesSortedAndOnce) {
  EXPECT_EQ(cpu_list({}), "none");
  EXPECT_EQ(cpu_list({3}), "3");
  EXPECT_EQ(cpu_list({1, 0}), "0,1");
  EXPECT_EQ(cpu_list({5, 0, 1, 2, 2, 7, 8}), "0-2,5,7,8");
}

TEST(PlacementSeen, SaysUnpinnedOnlyForAThreadAllowedEveryCpu) {
  EXPECT_EQ(placement_seen(true, {1}, {1}), "cpus 1 ran 1");
  EXPECT_EQ(placement_seen(false, usable_cpus(), {0}), "unpinned ran 0");
  // Pinned from outside (taskset): what the thread may use is the observation.
  if (usable_cpus().size() > 1) {
    const unsigned cpu = usable_cpus()[0];
    EXPECT_EQ(placement_seen(false, {cpu}, {cpu}), "cpus " + std::to_string(cpu) + " ran " + std::to_string(cpu));
  }
}

TEST(StatProcessor, FindsField39PastACommandNameWithSpacesAndParentheses) {
  std::string stat = "4242 (iou) sqp 7) S";
  for (int field = 4; field <= 52; ++field) stat.append(" ").append(std::to_string(field == 39 ? 3 : 1000 + field));
  EXPECT_EQ(stat_processor(stat), 3);
  EXPECT_THROW(stat_processor("4242 (short) S 1 2 3"), Error);
  EXPECT_THROW(stat_processor("no command name"), Error);
}

TEST(FindThread, SeesANamedThreadOfThisProcessAndWhereItRuns) {
  std::atomic<bool> named{false}, done{false};
  std::thread helper([&] {
    pthread_setname_np(pthread_self(), "rp-find-me");
    named = true;
    while (!done) std::this_thread::yield();
  });
  while (!named) std::this_thread::yield();
  const auto seen = find_thread("rp-find-me");
  done = true;
  helper.join();
  ASSERT_TRUE(seen.has_value());
  EXPECT_GT(seen->tid, 0);
  EXPECT_GE(seen->last_cpu, 0);
  EXPECT_FALSE(seen->allowed.empty());
  EXPECT_FALSE(find_thread("rp-no-such-thread").has_value());
}

}  // namespace
}  // namespace readpath
