// Matching kept histograms to reported repetitions, and the sidecar file.
#include "latency_log.hpp"

#include "error.hpp"
#include "files.hpp"
#include "reader.hpp"

namespace readpath {

void LatencyLog::keep(const std::string& cell, const LatencyHistogram& latency, int64_t iterations) {
  std::string counts = latency.counts_json();
  std::lock_guard lock(mutex_);
  pending_[cell].push_back({std::move(counts), iterations});
}

void LatencyLog::reported(const std::string& cell, const std::vector<ReportedRun>& runs) {
  std::vector<Kept> calls;
  {
    std::lock_guard lock(mutex_);
    if (auto it = pending_.find(cell); it != pending_.end()) calls = std::move(it->second), pending_.erase(it);
  }
  if (runs.empty()) return;
  if (calls.size() < runs.size())
    throw Error(cell + ": " + std::to_string(runs.size()) + " repetitions reported, " +
                std::to_string(calls.size()) + " latency passes kept");
  const size_t first = calls.size() - runs.size();  // the calls before were sizing the iteration count
  std::vector<Repetition> repetitions;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Kept& call = calls[first + i];
    if (call.iterations != runs[i].iterations)
      throw Error(cell + ": repetition " + std::to_string(runs[i].repetition) + " ran " +
                  std::to_string(runs[i].iterations) + " iterations, its latency pass's call " +
                  std::to_string(call.iterations));
    repetitions.push_back({runs[i].repetition, call.counts});
  }
  std::lock_guard lock(mutex_);
  cells_.emplace_back(cell, std::move(repetitions));
}

std::string LatencyLog::json() {
  std::lock_guard lock(mutex_);
  std::string out = "{\"bucket_scheme\": " + LatencyHistogram::scheme_json() + ",\n\"cells\": {";
  for (size_t c = 0; c < cells_.size(); ++c) {
    out += (c ? ",\n" : "\n") + json_string(cells_[c].first) + ": [";
    const auto& repetitions = cells_[c].second;
    for (size_t r = 0; r < repetitions.size(); ++r)
      out += std::string(r ? ",\n  " : "\n  ") + "{\"repetition\": " + std::to_string(repetitions[r].index) +
             ", \"counts\": " + repetitions[r].counts + "}";
    out += "]";
  }
  return out + "\n}}\n";
}

void LatencyLog::write(const std::string& path) { write_file_atomically(path, json()); }

}  // namespace readpath
