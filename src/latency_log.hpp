// The latency histograms of a run, matched to the repetitions Google Benchmark reports, for
// the sidecar file FILE.latency.json beside the results FILE (docs/contracts.md).
//
// Google Benchmark calls a cell's body once per repetition, and in the first repetition a
// few times more before that, while it sizes the iteration count; only the last call of each
// repetition is reported. So every call that ends without error keeps its histogram here,
// and when a cell's repetitions are reported the last of its calls are theirs, in order:
// the iteration counts, which must agree, confirm the match.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "latency.hpp"

namespace readpath {

class LatencyLog {
 public:
  // A call of `cell`'s body ended without error: all its threads' requests and its iterations
  // (as Google Benchmark will report them).
  void keep(const std::string& cell, const LatencyHistogram& latency, int64_t iterations);

  struct ReportedRun {
    int64_t repetition;
    int64_t iterations;
  };
  // Google Benchmark reported `runs` of `cell`: its repetitions that ran without error, in
  // order. Forgets the cell's kept calls; throws readpath::Error when they do not match.
  void reported(const std::string& cell, const std::vector<ReportedRun>& runs);

  // {"bucket_scheme": {...}, "cells": {"<cell>": [{"repetition": i, "counts": [[lower_ns,
  // upper_ns, count], ...]}, ...], ...}}, one repetition per line.
  std::string json();
  // Writes json() to path atomically: a temporary file beside it (removed on a signal),
  // renamed over it. Throws readpath::Error.
  void write(const std::string& path);

 private:
  // A histogram as its nonzero buckets (counts_json): a few hundred bytes, where the whole
  // histogram takes 43 KB; a long run keeps thousands of them.
  struct Kept {
    std::string counts;
    int64_t iterations;
  };
  struct Repetition {
    int64_t index;
    std::string counts;
  };
  std::mutex mutex_;
  std::map<std::string, std::vector<Kept>> pending_;  // calls not reported yet
  std::vector<std::pair<std::string, std::vector<Repetition>>> cells_;  // in report order
};

}  // namespace readpath
