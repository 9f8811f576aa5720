// The shared state of a cell's threads: a reusable barrier that forgets threads which left.
#include "cell_sync.hpp"

#include <algorithm>
#include <utility>

#include "error.hpp"

namespace readpath {

double makespan_seconds(const std::vector<PassInterval>& passes) {
  if (passes.empty()) return 0;
  Clock::time_point first = passes.front().start, last = passes.front().end;
  for (const PassInterval& p : passes) {
    first = std::min(first, p.start);
    last = std::max(last, p.end);
  }
  return std::chrono::duration<double>(last - first).count();
}

void CellSync::enter(unsigned threads) {
  std::lock_guard lock(mutex_);
  if (inside_++ == 0) {
    threads_ = threads;
    arrived_ = left_ = 0;
    failure_.clear();
    passes_.assign(threads, PassInterval{});
    latency_.reset();
    notes_.assign(threads, std::string());
  }
}

void CellSync::leave() {
  std::lock_guard lock(mutex_);
  ++left_;
  --inside_;
  release_if_complete();
}

void CellSync::wait() {
  std::unique_lock lock(mutex_);
  const uint64_t generation = generation_;
  ++arrived_;
  if (release_if_complete()) return;
  cv_.wait(lock, [&] { return generation_ != generation; });
}

void CellSync::fail(const std::string& why) {
  std::lock_guard lock(mutex_);
  if (failure_.empty()) failure_ = why;
}

std::string CellSync::failure() {
  std::lock_guard lock(mutex_);
  return failure_;
}

void CellSync::throw_if_failed() {
  if (const std::string why = failure(); !why.empty()) throw Error(why);
}

void CellSync::record_pass(unsigned index, PassInterval pass) {
  std::lock_guard lock(mutex_);
  passes_.at(index) = pass;
}

double CellSync::pass_makespan() {
  std::lock_guard lock(mutex_);
  return makespan_seconds(passes_);
}

void CellSync::add_latency(const LatencyHistogram& latency) {
  std::lock_guard lock(mutex_);
  if (latency_) latency_->merge(latency);
  else latency_ = latency;
}

LatencyHistogram CellSync::latency() {
  std::lock_guard lock(mutex_);
  return latency_ ? *latency_ : LatencyHistogram();
}

void CellSync::set_note(unsigned index, std::string note) {
  std::lock_guard lock(mutex_);
  notes_.at(index) = std::move(note);
}

std::vector<std::string> CellSync::notes() {
  std::lock_guard lock(mutex_);
  return notes_;
}

bool CellSync::release_if_complete() {
  if (arrived_ == 0 || arrived_ + left_ < threads_) return false;
  arrived_ = 0;
  ++generation_;
  cv_.notify_all();
  return true;
}

}  // namespace readpath
