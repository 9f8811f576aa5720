// Per-request latency: the clock that stamps requests, what the clock itself costs, a
// log-linear histogram of bounded size, and how a reader's pass times its requests.
//
// The histogram is our own because Debian packages no C or C++ HdrHistogram (only its Java
// port), and all the latency pass needs is HdrHistogram's core, written here in a page:
// buckets of bounded relative width, so that a fixed number of counters covers nanoseconds
// to hours at 2 significant digits, and histograms merge by adding counts.
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace readpath {

// CLOCK_MONOTONIC in nanoseconds, through the vDSO. It cannot fail: the clock always exists
// and the timespec is ours, so nothing is checked on this hot path.
inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The cost of one stamp: the median of `samples` back-to-back monotonic_ns() differences.
// Every request latency holds about one of these (not subtracted).
uint64_t timer_overhead_ns(unsigned samples = 20001);

// Counts of nanosecond values in buckets laid out as HdrHistogram's with 2 significant
// digits: values below 2^7 have a bucket each; above, each power of two [2^e, 2^(e+1)) is cut
// into 2^7 buckets of width 2^(e-7). A bucket is then at most 1/128 of its lower edge wide,
// and a percentile, reported as its bucket's midpoint, is within 1/256 of the exact one.
// Values from 2^48 ns (78 hours) up count in the last bucket; min, max and mean are exact.
class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  static constexpr unsigned kRangeBits = 48;  // the last bucket ends at 2^48 ns
  static constexpr size_t kBuckets = (kRangeBits - kSubBucketBits + 1) * kSubBuckets;

  LatencyHistogram() : counts_(kBuckets, 0) {}

  void record(uint64_t ns) {
    ++counts_[bucket_of(ns)];
    ++count_;
    sum_ += ns;
    if (ns < min_) min_ = ns;
    if (ns > max_) max_ = ns;
  }
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const;
  // The value below or at which `percent` (0 to 100) of the recorded values lie, as the
  // midpoint of the bucket that holds the value of that rank, kept within [min, max]; the
  // largest value itself for the last rank (and in the last bucket); 0 when empty.
  uint64_t percentile(double percent) const;
  // The rank (1-based, in sorted order) of the value at `percent` of `count` values:
  // ceil(percent / 100 * count), at least 1.
  static uint64_t rank(double percent, uint64_t count);

  static size_t bucket_of(uint64_t ns);
  static uint64_t bucket_lower(size_t bucket);  // the bucket is [lower, upper)
  static uint64_t bucket_upper(size_t bucket);
  uint64_t bucket_count(size_t bucket) const { return counts_[bucket]; }

  // The bucket layout as JSON, enough to recompute every bucket's edges.
  static std::string scheme_json();
  // The nonzero buckets as a JSON array of [lower_ns, upper_ns, count], in bucket order.
  std::string counts_json() const;

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

// How a reader's pass times its requests. The timed passes use NoRequestTiming, whose calls
// compile to nothing, so that they run the code they would run without a latency pass; the
// latency pass uses RequestTiming, which stamps each request and records it.
struct NoRequestTiming {
  static constexpr bool on = false;
  uint64_t now() const { return 0; }
  void record(uint64_t, uint64_t) const {}
};

class RequestTiming {
 public:
  static constexpr bool on = true;
  explicit RequestTiming(LatencyHistogram& latency) : latency_(&latency) {}
  uint64_t now() const { return monotonic_ns(); }
  void record(uint64_t start, uint64_t end) const { latency_->record(end - start); }

 private:
  LatencyHistogram* latency_;
};

}  // namespace readpath
