// The latency histogram (bucket edges, percentiles against a sorted reference, merging,
// bounded size), the clock's cost, and the log that matches histograms to reported
// repetitions and writes the sidecar file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "error.hpp"
#include "latency.hpp"
#include "latency_log.hpp"
#include "test_util.hpp"

namespace readpath {
namespace {

using H = LatencyHistogram;

// Latencies as a read path has them: mostly near a few hundred ns, a long tail to
// milliseconds, and some values below 128 ns where every nanosecond has its own bucket.
std::vector<uint64_t> latencies(size_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::lognormal_distribution<double> body(std::log(600.0), 0.6);
  std::uniform_int_distribution<uint64_t> tail(10'000, 5'000'000), small(20, 127);
  std::vector<uint64_t> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = i % 100 == 0 ? tail(random) : i % 10 == 0 ? small(random) : static_cast<uint64_t>(body(random));
  return out;
}

H histogram_of(const std::vector<uint64_t>& values) {
  H h;
  for (uint64_t v : values) h.record(v);
  return h;
}

TEST(LatencyBuckets, TileTheRangeWithoutGaps) {
  EXPECT_EQ(H::bucket_lower(0), 0u);
  for (size_t b = 0; b + 1 < H::kBuckets; ++b) ASSERT_EQ(H::bucket_upper(b), H::bucket_lower(b + 1)) << b;
  EXPECT_EQ(H::bucket_upper(H::kBuckets - 1), uint64_t{1} << H::kRangeBits);
}

TEST(LatencyBuckets, AreOneNanosecondWideBelow256AndThenAtMostA128thOfTheirValue) {
  for (size_t b = 0; b < H::kBuckets; ++b) {
    const uint64_t lower = H::bucket_lower(b), width = H::bucket_upper(b) - lower;
    if (lower < 256) ASSERT_EQ(width, 1u) << b;
    else ASSERT_LE(width * 128, lower) << b;  // 2 significant digits: under 1% of the value
  }
}

TEST(LatencyBuckets, EveryValueLandsInTheBucketThatHoldsIt) {
  std::vector<uint64_t> values;
  for (uint64_t v = 0; v < 2000; ++v) values.push_back(v);
  for (unsigned bit = 7; bit < H::kRangeBits; ++bit)
    for (int64_t delta : {-1, 0, 1}) values.push_back((uint64_t{1} << bit) + static_cast<uint64_t>(delta));
  for (uint64_t v : latencies(10000, 1)) values.push_back(v);
  for (uint64_t v : values) {
    const size_t b = H::bucket_of(v);
    ASSERT_LT(b, H::kBuckets) << v;
    EXPECT_LE(H::bucket_lower(b), v) << v;
    EXPECT_LT(v, H::bucket_upper(b)) << v;
  }
  EXPECT_EQ(H::bucket_of(300), H::bucket_of(301));  // [300, 302)
  EXPECT_NE(H::bucket_of(301), H::bucket_of(302));
}

TEST(LatencyHistogram, PercentilesMatchASortedReferenceWithinTheirBucket) {
  std::vector<uint64_t> values = latencies(100000, 2);
  const H h = histogram_of(values);
  std::sort(values.begin(), values.end());
  for (double percent : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t exact = values[H::rank(percent, values.size()) - 1];
    const double error = std::abs(static_cast<double>(h.percentile(percent)) - static_cast<double>(exact));
    // The bucket's midpoint: half a bucket at most, a 256th of the value.
    EXPECT_LE(error, static_cast<double>(exact) / 256) << percent << "%: " << h.percentile(percent) << " vs " << exact;
  }
  EXPECT_EQ(h.percentile(100), values.back());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.count(), values.size());
  double sum = 0;
  for (uint64_t v : values) sum += static_cast<double>(v);
  EXPECT_DOUBLE_EQ(h.mean(), sum / static_cast<double>(values.size()));
}

TEST(LatencyHistogram, PercentilesNeverDecreaseAndStayWithinMinAndMax) {
  const H h = histogram_of({500, 500, 501, 900, 902, 1'000'000});
  uint64_t previous = 0;
  for (double percent = 0; percent <= 100; percent += 0.5) {
    const uint64_t value = h.percentile(percent);
    EXPECT_GE(value, previous) << percent;
    EXPECT_GE(value, h.min());
    EXPECT_LE(value, h.max());
    previous = value;
  }
}

TEST(LatencyHistogram, RankIsTheCeilingOfTheShareOfValues) {
  EXPECT_EQ(H::rank(50, 1), 1u);
  EXPECT_EQ(H::rank(0, 10), 1u);
  EXPECT_EQ(H::rank(50, 10), 5u);
  EXPECT_EQ(H::rank(51, 10), 6u);
  EXPECT_EQ(H::rank(100, 10), 10u);
  EXPECT_EQ(H::rank(99.9, 1000), 999u);  // not 1000 by a rounding error
  EXPECT_EQ(H::rank(99.9, 1001), 1000u);
}

TEST(LatencyHistogram, EmptyReportsZeros) {
  const H h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.counts_json(), "[]");
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  const std::vector<uint64_t> a = latencies(5000, 3), b = latencies(7000, 4);
  H merged = histogram_of(a);
  merged.merge(histogram_of(b));
  std::vector<uint64_t> both = a;
  both.insert(both.end(), b.begin(), b.end());
  const H one = histogram_of(both);
  EXPECT_EQ(merged.counts_json(), one.counts_json());
  EXPECT_EQ(merged.count(), one.count());
  EXPECT_EQ(merged.min(), one.min());
  EXPECT_EQ(merged.max(), one.max());
  EXPECT_DOUBLE_EQ(merged.mean(), one.mean());
  for (double percent : {50.0, 99.0, 99.9}) EXPECT_EQ(merged.percentile(percent), one.percentile(percent));
  H into_empty;
  into_empty.merge(one);
  EXPECT_EQ(into_empty.counts_json(), one.counts_json());
  EXPECT_EQ(into_empty.min(), one.min());
}

// Memory stays fixed whatever is recorded: values past the range count in the last bucket,
// and only min, max and mean keep their exact value.
TEST(LatencyHistogram, HasBoundedSizeWhateverItRecords) {
  EXPECT_LE(H::kBuckets * sizeof(uint64_t), 64u * 1024);
  H h;
  h.record(0);
  h.record(uint64_t{1} << H::kRangeBits);
  h.record(UINT64_MAX / 4);
  EXPECT_EQ(H::bucket_of(UINT64_MAX), H::kBuckets - 1);
  EXPECT_EQ(h.bucket_count(H::kBuckets - 1), 2u);
  EXPECT_EQ(h.max(), UINT64_MAX / 4);
  EXPECT_EQ(h.percentile(100), UINT64_MAX / 4);
  EXPECT_EQ(h.count(), 3u);
}

TEST(LatencyHistogram, CountsJsonListsTheNonzeroBucketsWithTheirEdges) {
  const H h = histogram_of({5, 5, 300, 301});
  EXPECT_EQ(h.counts_json(), "[[5,6,2],[300,302,2]]");
}

TEST(LatencyHistogram, SchemeJsonGivesWhatTheEdgesAreComputedFrom) {
  const std::string scheme = H::scheme_json();
  for (const char* key : {"\"sub_bucket_bits\":7", "\"buckets\":5376", "\"range_ns\":281474976710656", "\"edges\":",
                          "\"unit\":\"ns\""})
    EXPECT_NE(scheme.find(key), std::string::npos) << key << " in " << scheme;
}

// A stamp costs a vDSO call: tens of nanoseconds, and nothing like a system call's microseconds.
TEST(RequestClock, CostsLittleAndTheMedianIsStable) {
  const uint64_t overhead = timer_overhead_ns();
  EXPECT_LT(overhead, 5000u);
  const uint64_t first = monotonic_ns(), second = monotonic_ns();
  EXPECT_GE(second, first);
}

TEST(RequestTiming, RecordsTheTimeBetweenItsStamps) {
  H h;
  RequestTiming timing(h);
  timing.record(1000, 1500);
  const uint64_t start = timing.now();
  timing.record(start, timing.now());
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), 500u);
  NoRequestTiming none;
  EXPECT_EQ(none.now(), 0u);
}

// The log: Google Benchmark calls a cell's body more often than it reports (sizing the
// iteration count first); the last calls are the repetitions.
H one_value(uint64_t ns) { return histogram_of({ns}); }

TEST(LatencyLog, TheLastCallsOfACellAreItsRepetitions) {
  LatencyLog log;
  log.keep("c", one_value(1), 1);     // sizing
  log.keep("c", one_value(2), 10);    // sizing
  log.keep("c", one_value(300), 100);
  log.keep("c", one_value(400), 100);
  log.keep("other", one_value(7), 5);
  log.reported("c", {{0, 100}, {1, 100}});
  const std::string json = log.json();
  EXPECT_NE(json.find("\"c\": [\n  {\"repetition\": 0, \"counts\": [[300,302,1]]},\n  {\"repetition\": 1, "
                      "\"counts\": [[400,402,1]]}]"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.find("\"other\""), std::string::npos) << "reported only once Google Benchmark reports it";
  EXPECT_EQ(json.rfind("{\"bucket_scheme\": {", 0), 0u) << json;
}

TEST(LatencyLog, RefusesRepetitionsThatDoNotMatchTheCalls) {
  LatencyLog log;
  log.keep("c", one_value(300), 100);
  EXPECT_THROW(log.reported("c", {{0, 99}}), Error);
  log.keep("d", one_value(300), 100);
  EXPECT_THROW(log.reported("d", {{0, 100}, {1, 100}}), Error);
  EXPECT_EQ(log.json().find("\"c\""), std::string::npos);
  EXPECT_NO_THROW(log.reported("e", {}));  // every repetition failed: nothing kept, nothing to say
}

TEST(LatencyLog, WritesTheFileWholeOrNotAtAll) {
  const std::string dir = test::scratch_dir();
  const std::string path = dir + "/out.json.latency.json";
  LatencyLog log;
  log.keep("c", one_value(300), 100);
  log.reported("c", {{0, 100}});
  std::ofstream(path) << "an earlier run's";
  log.write(path);
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_EQ(text.str(), log.json());
  EXPECT_THROW(log.write(dir + "/no/such/dir/x.json"), Error);
  unlink(path.c_str());
  EXPECT_EQ(rmdir(dir.c_str()), 0) << "a temporary file was left behind";
  untrack_path(dir);
}

}  // namespace
}  // namespace readpath
