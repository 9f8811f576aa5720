// perf_event_open counting, with software events where the machine has no PMU (this
// project's development host, QEMU TCG): the group opens, counts only while started, adds up
// over start/stop pairs and sees a known effect; the hardware set either counts or says why.
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <sys/mman.h>

#include <cstring>
#include <memory>

#include "error.hpp"
#include "pmu.hpp"

namespace readpath {
namespace {

const std::vector<PmuEvent> kSoftware = {
    {"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, false, false},
    {"task-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, false, false},
};

// Touches `pages` new anonymous pages: as many page faults.
void fault_in(size_t pages) {
  const size_t size = pages * 4096;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  for (size_t i = 0; i < pages; ++i) static_cast<volatile char*>(p)[i * 4096] = 1;
  munmap(p, size);
}

TEST(Pmu, CountsOnlyWhileStartedAndAddsUpOverPasses) {
  std::unique_ptr<PmuCounters> counters;
  try {
    counters = std::make_unique<PmuCounters>(kSoftware);
  } catch (const Error& e) {
    GTEST_SKIP() << "perf_event_open refuses even software events here: " << e.what();
  }
  fault_in(64);  // before any start: not counted
  EXPECT_EQ(counters->read().values, (std::vector<uint64_t>{0, 0}));
  counters->start();
  fault_in(100);
  counters->stop();
  fault_in(500);  // stopped: not counted
  const PmuCounters::Counts first = counters->read();
  EXPECT_GE(first.values[0], 100u);
  EXPECT_LT(first.values[0], 150u);
  EXPECT_GT(first.values[1], 0u);  // ns on the CPU
  EXPECT_DOUBLE_EQ(first.running_share, 1.0);
  counters->start();
  fault_in(200);
  counters->stop();
  const PmuCounters::Counts both = counters->read();
  EXPECT_GE(both.values[0] - first.values[0], 200u);
  EXPECT_LT(both.values[0] - first.values[0], 250u);
}

TEST(Pmu, TheHardwareSetCountsOrSaysWhyNot) {
  const std::string why = pmu_unavailable();
  if (why.empty()) {
    PmuCounters counters(hardware_events());
    counters.start();
    fault_in(10);
    counters.stop();
    const PmuCounters::Counts counts = counters.read();
    ASSERT_EQ(counts.values.size(), 4u);
    EXPECT_GT(counts.values[0], 0u);  // instructions:u
    EXPECT_GT(counts.values[1], 0u);  // instructions:k: ten page faults
  } else {
    EXPECT_EQ(why.rfind("instructions:u: ", 0), 0u) << why;  // the first event, named
    EXPECT_THROW(PmuCounters{hardware_events()}, Error);
  }
}

TEST(Pmu, AnUnknownEventIsRefusedWithItsName) {
  const std::vector<PmuEvent> bogus = {{"bogus", PERF_TYPE_HARDWARE, 0xdeadbeef, false, false}};
  try {
    PmuCounters counters(bogus);
    FAIL() << "the kernel took config 0xdeadbeef";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("bogus: ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace readpath
