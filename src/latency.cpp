// The latency histogram's buckets, percentiles and JSON, and the clock's own cost.
#include "latency.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace readpath {

uint64_t timer_overhead_ns(unsigned samples) {
  std::vector<uint64_t> gaps(std::max(1u, samples));
  for (int warm_up = 0; warm_up < 100; ++warm_up) monotonic_ns();
  for (uint64_t& gap : gaps) {
    const uint64_t first = monotonic_ns();
    gap = monotonic_ns() - first;
  }
  const auto middle = gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2);
  std::nth_element(gaps.begin(), middle, gaps.end());
  return *middle;
}

size_t LatencyHistogram::bucket_of(uint64_t ns) {
  ns = std::min(ns, (uint64_t{1} << kRangeBits) - 1);
  if (ns < kSubBuckets) return static_cast<size_t>(ns);
  const unsigned top_bit = 63u - static_cast<unsigned>(__builtin_clzll(ns));
  const unsigned shift = top_bit - kSubBucketBits;
  return (shift + 1) * kSubBuckets + ((ns >> shift) - kSubBuckets);
}

uint64_t LatencyHistogram::bucket_lower(size_t bucket) {
  const uint64_t octave = bucket / kSubBuckets, sub = bucket % kSubBuckets;
  return octave == 0 ? sub : (kSubBuckets + sub) << (octave - 1);
}

uint64_t LatencyHistogram::bucket_upper(size_t bucket) {
  const uint64_t octave = bucket / kSubBuckets, sub = bucket % kSubBuckets;
  return octave == 0 ? sub + 1 : (kSubBuckets + sub + 1) << (octave - 1);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t b = 0; b < kBuckets; ++b) counts_[b] += other.counts_[b];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double LatencyHistogram::mean() const {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
}

uint64_t LatencyHistogram::rank(double percent, uint64_t count) {
  // The small tolerance keeps 99.9% of 1000 values at rank 999, where floating point
  // would make it 999.0000000001 and round up.
  const double exact = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(count);
  return std::clamp<uint64_t>(static_cast<uint64_t>(std::ceil(exact - 1e-9)), 1, std::max<uint64_t>(count, 1));
}

uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  const uint64_t wanted = rank(percent, count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= wanted) {
      // The largest value is known exactly, and the last bucket also holds values past the range.
      if (wanted == count_ || b == kBuckets - 1) return max_;
      const uint64_t middle = bucket_lower(b) + (bucket_upper(b) - bucket_lower(b)) / 2;
      return std::clamp(middle, min_, max_);
    }
  }
  return max_;
}

std::string LatencyHistogram::scheme_json() {
  char width[32];
  std::snprintf(width, sizeof width, "%.17g", 1.0 / static_cast<double>(kSubBuckets));
  return "{\"name\":\"log-linear\",\"unit\":\"ns\",\"sub_bucket_bits\":" + std::to_string(kSubBucketBits) +
         ",\"buckets\":" + std::to_string(kBuckets) + ",\"range_ns\":" + std::to_string(uint64_t{1} << kRangeBits) +
         ",\"edges\":\"B = 2^sub_bucket_bits; bucket i < B is [i, i+1); bucket i >= B, with k = i div B and "
         "s = i mod B, is [(B+s)*2^(k-1), (B+s+1)*2^(k-1)); values from range_ns up count in the last "
         "bucket\",\"relative_width\":" +
         width + "}";
}

std::string LatencyHistogram::counts_json() const {
  std::string out = "[";
  for (size_t b = 0; b < kBuckets; ++b) {
    if (counts_[b] == 0) continue;
    if (out.size() > 1) out += ',';
    out.append("[").append(std::to_string(bucket_lower(b))).append(",").append(std::to_string(bucket_upper(b)));
    out.append(",").append(std::to_string(counts_[b])).append("]");
  }
  return out + "]";
}

}  // namespace readpath
