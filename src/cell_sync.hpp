// What the threads of one benchmark cell share: meeting points, the first failure any of
// them hit, each pass's start and end times, their latency histograms merged, and one note
// per thread for the cell's label.
//
// A cell with several threads is timed as a whole: all threads start a pass together and
// the pass takes from the earliest start to the latest end (its makespan), so a thread
// that lags shows in the time instead of hiding in an average.
//
// Runs of a cell follow one another (Google Benchmark joins a run's threads before the
// next starts), so the state resets when the first thread of a run enters. A thread that
// leaves early (after an error) stops counting, so the others never wait for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "latency.hpp"

namespace readpath {

using Clock = std::chrono::steady_clock;

struct PassInterval {
  Clock::time_point start, end;
};

// From the earliest start to the latest end, in seconds; 0 for no intervals.
double makespan_seconds(const std::vector<PassInterval>& passes);

class CellSync {
 public:
  void enter(unsigned threads);
  void leave();
  // Waits until every thread still taking part has arrived.
  void wait();
  // Keeps the first failure; later ones are consequences.
  void fail(const std::string& why);
  std::string failure();
  // Throws readpath::Error with the failure, if there is one.
  void throw_if_failed();
  // One thread's step of a phase that all threads go through together: skipped once any
  // thread has failed, and a failure is kept for all. The caller goes on to the next
  // meeting point either way, so that every thread reaches every one.
  template <class Step>
  void attempt(Step&& step) {
    if (!failure().empty()) return;
    try {
      step();
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  // A thread's pass interval; read back after the next wait().
  void record_pass(unsigned index, PassInterval pass);
  double pass_makespan();
  // A thread's latency histogram, merged into the cell's; read back after the next wait().
  void add_latency(const LatencyHistogram& latency);
  LatencyHistogram latency();
  void set_note(unsigned index, std::string note);
  std::vector<std::string> notes();

 private:
  bool release_if_complete();

  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned threads_ = 0, inside_ = 0, arrived_ = 0, left_ = 0;
  uint64_t generation_ = 0;
  std::string failure_;
  std::vector<PassInterval> passes_;
  std::optional<LatencyHistogram> latency_;  // made by the first add_latency of a run
  std::vector<std::string> notes_;
};

// One thread's membership of a cell run: enters on construction, leaves on leave() or
// destruction, whichever comes first.
class CellMember {
 public:
  CellMember(CellSync& sync, unsigned threads) : sync_(sync) { sync_.enter(threads); }
  ~CellMember() { leave(); }
  CellMember(const CellMember&) = delete;
  CellMember& operator=(const CellMember&) = delete;
  void leave() {
    if (!left_) sync_.leave(), left_ = true;
  }

 private:
  CellSync& sync_;
  bool left_ = false;
};

}  // namespace readpath
