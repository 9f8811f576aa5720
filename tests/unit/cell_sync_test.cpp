// What a cell's threads share: the makespan of a pass, meeting points that forget a thread
// which left, and the first failure.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "cell_sync.hpp"

namespace readpath {
namespace {

using std::chrono::milliseconds;

PassInterval at(int start_ms, int end_ms) {
  const Clock::time_point zero{};
  return {zero + milliseconds(start_ms), zero + milliseconds(end_ms)};
}

TEST(Makespan, RunsFromTheFirstStartToTheLastEnd) {
  EXPECT_DOUBLE_EQ(makespan_seconds({at(0, 3), at(1, 5)}), 0.005);
  EXPECT_DOUBLE_EQ(makespan_seconds({at(2, 9), at(1, 4), at(3, 6)}), 0.008);
  EXPECT_DOUBLE_EQ(makespan_seconds({at(4, 7)}), 0.003);
  EXPECT_EQ(makespan_seconds({}), 0.0);
}

// An imbalanced pass costs its slowest thread: the average of the threads' own times
// (2 ms and 10 ms) would say 6 ms.
TEST(Makespan, IsNotTheAverageOfTheThreads) {
  EXPECT_DOUBLE_EQ(makespan_seconds({at(0, 2), at(0, 10)}), 0.010);
}

TEST(CellSync, EveryThreadReadsTheSameMakespan) {
  CellSync sync;
  auto thread = [&](unsigned index, PassInterval pass) {
    CellMember member(sync, 2);
    sync.wait();
    sync.record_pass(index, pass);
    sync.wait();
    return sync.pass_makespan();
  };
  auto other = std::async(std::launch::async, thread, 1u, at(1, 7));
  EXPECT_DOUBLE_EQ(thread(0, at(0, 3)), 0.007);
  EXPECT_DOUBLE_EQ(other.get(), 0.007);
}

TEST(CellSync, AThreadThatLeftIsNotWaitedFor) {
  CellSync sync;
  CellMember stays(sync, 2);
  auto leaver = std::async(std::launch::async, [&] {
    CellMember member(sync, 2);
    sync.fail("reader failed");
    member.leave();
  });
  leaver.get();
  auto waiting = std::async(std::launch::async, [&] { sync.wait(); });
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "deadlocked";
  EXPECT_EQ(sync.failure(), "reader failed");
}

TEST(CellSync, KeepsTheFirstFailureUntilTheNextRun) {
  CellSync sync;
  {
    CellMember member(sync, 1);
    sync.fail("first");
    sync.fail("second");
    EXPECT_EQ(sync.failure(), "first");
  }
  CellMember next(sync, 1);
  EXPECT_EQ(sync.failure(), "");
}

TEST(CellSync, MergesEveryThreadsLatencyUntilTheNextRun) {
  CellSync sync;
  auto thread = [&](uint64_t ns) {
    CellMember member(sync, 2);
    LatencyHistogram mine;
    mine.record(ns);
    sync.add_latency(mine);
    sync.wait();
    return sync.latency();
  };
  auto other = std::async(std::launch::async, thread, 200);
  const LatencyHistogram merged = thread(100);
  EXPECT_EQ(merged.count(), 2u);
  EXPECT_EQ(merged.min(), 100u);
  EXPECT_EQ(merged.max(), 200u);
  EXPECT_EQ(other.get().count(), 2u);
  CellMember next(sync, 1);
  EXPECT_EQ(sync.latency().count(), 0u);
}

TEST(CellSync, NotesComeBackByThread) {
  CellSync sync;
  CellMember member(sync, 2);
  sync.set_note(1, "cpus 1 ran 1");
  sync.set_note(0, "cpus 0 ran 0");
  EXPECT_EQ(sync.notes(), (std::vector<std::string>{"cpus 0 ran 0", "cpus 1 ran 1"}));
}

}  // namespace
}  // namespace readpath
