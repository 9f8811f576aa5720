// The wall time a pass did not spend on its own work: the thread's CPU time leaves out time
// asleep, the run-queue wait and steal come from their proc files.
#include "cpu_usage.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace readpath {
namespace {

TEST(CpuUsage, ParsesTheRunQueueWaitOfASchedstatLine) {
  EXPECT_EQ(parse_schedstat_wait("123456 7890 12\n"), 7890u);
  EXPECT_EQ(parse_schedstat_wait("123456"), std::nullopt);
  EXPECT_EQ(parse_schedstat_wait(""), std::nullopt);
}

TEST(CpuUsage, ParsesStealOfAllCpusFromProcStat) {
  const char* text = "cpu  100 2 30 4000 5 6 7 8 0 0\ncpu0 50 1 15 2000 2 3 3 4 0 0\n";
  EXPECT_EQ(parse_proc_stat_steal(text, 100), 8u * 10000000u);  // 8 ticks of 10 ms
  EXPECT_EQ(parse_proc_stat_steal("cpu  1 2 3 4\n", 100), std::nullopt);  // an old kernel: no steal
  EXPECT_EQ(parse_proc_stat_steal("intr 1 2 3\n", 100), std::nullopt);
}

TEST(CpuUsage, SleepingCostsTheThreadNoCpuTime) {
  const uint64_t before = thread_cpu_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LT(thread_cpu_ns() - before, 50'000'000u);  // however loaded the host
}

// The nth number (0-based) after `skip` leading words of a proc file's first line, read here
// without the code under test.
uint64_t proc_field(const char* path, int skip, int n) {
  std::ifstream in(path);
  std::string word;
  for (int i = 0; i < skip; ++i) in >> word;
  uint64_t value = 0;
  for (int i = 0; i <= n; ++i) in >> value;
  return value;
}

TEST(CpuUsage, RunQueueWaitIsThisThreadsSchedstatWait) {
  RunQueueWait wait;
  if (!wait.unavailable().empty()) GTEST_SKIP() << wait.unavailable();
  for (int round = 0; round < 3; ++round) {
    const uint64_t before = proc_field("/proc/thread-self/schedstat", 0, 1);
    const std::optional<uint64_t> read = wait.ns();
    const uint64_t after = proc_field("/proc/thread-self/schedstat", 0, 1);
    ASSERT_TRUE(read);
    EXPECT_LE(before, *read);
    EXPECT_LE(*read, after);
    for (int i = 0; i < 50; ++i) sched_yield();
  }
}

TEST(CpuUsage, StealIsProcStatsStealOfAllCpus) {
  if (!steal_ns()) GTEST_SKIP() << "/proc/stat has no steal field here";
  const uint64_t tick_ns = 1000000000u / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  const uint64_t before = proc_field("/proc/stat", 1, 7) * tick_ns;
  const uint64_t read = *steal_ns();
  const uint64_t after = proc_field("/proc/stat", 1, 7) * tick_ns;
  EXPECT_LE(before, read);
  EXPECT_LE(read, after);
}

}  // namespace
}  // namespace readpath
