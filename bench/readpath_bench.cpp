// readpath_bench: Google Benchmark registrations over libreadpath.
//
// One cell = method × io size × file size × cache state [× queue depth] × threads. One
// iteration is one pass over each thread's region of the file. Each call of a cell's body
// (one per repetition, and a few more while Google Benchmark sizes the iteration count):
//   setup      each thread pins itself, reads its affinity back and builds its reader;
//   cache      the whole file is made warm or cold and confirmed with mincore;
//   witness    one untimed pass per thread in that cache state, every byte checked against
//              the content function; on myfs it is also the pass whose hook calls are
//              counted (for a warm mmap_copy, whose first pass maps what later passes only
//              read, the untimed pass after it), then counting is switched off for the
//              timed passes;
//   latency    with --latency, one untimed pass per thread like the timed ones (cold cells
//              evict before it), each request timed on its own into the thread's histogram;
//   timed      the passes, timed as a whole cell (manual time: from the first thread's
//              start to the last thread's end); cold cells evict before each pass,
//              outside the measured interval;
//   counters   rusage, CPU time and run-queue wait of the timed passes and the machine's
//              steal over them, the witness's hook counts, the latency pass's percentiles,
//              and a label saying where each thread was seen running.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "blockdev.hpp"
#include "cache.hpp"
#include "cell_sync.hpp"
#include "cpu_usage.hpp"
#include "environment.hpp"
#include "error.hpp"
#include "files.hpp"
#include "icount.hpp"
#include "latency.hpp"
#include "latency_log.hpp"
#include "mounts.hpp"
#include "options.hpp"
#include "placement.hpp"
#include "pmu.hpp"
#include "reader.hpp"

namespace readpath {
namespace {

// Where files go and what kind of filesystem it is; fixed before any cell runs.
struct Run {
  std::string parent;      // --dir, or default_scratch_parent() for a fresh directory
  bool fresh_dir = false;
  std::string dir_note;    // why the fresh directory is not under /dev/shm on tmpfs
  std::string dir;         // made on first use when fresh
  MountInfo mount;
  bool synthetic = false;  // myfs -o synthetic: myfs makes the content
  bool image = false;      // myfs block mode: the image's files are read, never made or removed
  bool keep_files = false;
  Placement placement = Placement::none;
  std::string stats_path;  // myfs counters: empty off myfs and on a counters=off mount
  std::optional<BlockDevice> device;  // the block device under --dir, whose reads cells count
  std::string counter_names;  // myfs's counters in its stats file's order, comma-separated
  // Timed passes run with myfs counting off (a remount per cell); false off myfs, on a
  // counters=off mount (nothing to switch) and when the remount is refused.
  bool pause_counting = false;
  std::string counting_refused;  // why the remount was refused
  bool latency = false;          // a latency pass in every cell
  // Under QEMU with the readpath_icount plugin: one-thread cells count the instructions of
  // their timed passes on the reader's vCPU. Empty when not counting.
  std::optional<InstructionCounter> icount;
  // The guest kernel's functions, which the counted kernel instructions are attributed to;
  // empty when /proc/kallsyms shows no addresses.
  std::optional<KernelSymbols> symbols;
  // Where a PMU counts for this process: one-thread cells count their timed passes'
  // instructions and cycles (pmu.hpp).
  bool pmu = false;
};
Run g_run;

// The latency passes' histograms, for the sidecar file.
LatencyLog g_latency;
// The counted kernel instructions by function, for the sidecar file.
FunctionLog g_functions;

// What to say when a myfs block mount at dir lacks the files of some sizes: the command that
// writes an image with them (all of `sizes`, so that one image serves the whole run).
std::string missing_images(const std::string& dir, const std::vector<uint64_t>& sizes,
                           const std::vector<uint64_t>& missing = {}) {
  std::string names, list;
  for (uint64_t size : missing.empty() ? sizes : missing) names.append(names.empty() ? "" : ", ").append(image_file_name(size));
  for (uint64_t size : sizes) list.append(list.empty() ? "" : ",").append(format_size(size));
  const std::string device = g_run.mount.source;
  return dir + " is a myfs block mount of " + device + " without " + names +
         " (readpath_bench reads the image's files there and never makes them): write an image with "
         "tools/mkfs.myfs " + device + " --engine-sizes " + list + " (build/tools/mkfs.myfs) and mount it again";
}

// The one prepared file: cells run in file-size order, so one file at a time is enough
// and keeps memory use to the largest file.
class FileStore {
 public:
  PreparedFile acquire(uint64_t size) {
    std::lock_guard lock(mutex_);
    if (current_ && current_->size == size) return *current_;
    if (failed_size_ == size) throw Error(failed_reason_);
    if (current_) release(*current_), current_.reset();
    if (g_run.image) {
      current_ = find_image_file(g_run.parent, size);  // main made sure it is there
      if (!current_) throw Error(missing_images(g_run.parent, {size}));
      return *current_;
    }
    try {
      if (g_run.dir.empty()) g_run.dir = g_run.fresh_dir ? make_fresh_dir(g_run.parent) : g_run.parent;
      const std::string path = g_run.dir + "/readpath-" + std::to_string(getpid()) + "-" + format_size(size) + ".dat";
      std::fprintf(stderr, "readpath_bench: preparing %s file %s\n", format_size(size).c_str(), path.c_str());
      current_ = prepare_file(path, size, g_run.synthetic);
    } catch (const Error& e) {
      failed_size_ = size;
      failed_reason_ = std::string("preparing the file: ") + e.what();
      throw Error(failed_reason_);
    }
    return *current_;
  }

  // At the end of the run: the file is removed, or kept and its path printed.
  void finish() {
    std::lock_guard lock(mutex_);
    if (current_) release(*current_), current_.reset();
  }

 private:
  static void release(const PreparedFile& file) {
    if (g_run.image) return;  // the image's, not ours
    if (!g_run.keep_files) return remove_file(file);
    untrack_path(file.path);
    std::fprintf(stderr, "readpath_bench: kept %s (inode %llu, %llu bytes)\n", file.path.c_str(),
                 static_cast<unsigned long long>(file.ino), static_cast<unsigned long long>(file.size));
  }

  std::mutex mutex_;
  std::optional<PreparedFile> current_;
  uint64_t failed_size_ = 0;
  std::string failed_reason_;
};
FileStore g_files;

CellSync g_sync;

class Fd {
 public:
  explicit Fd(const std::string& path, int flags = 0) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC | flags)) {
    if (fd_ < 0) throw sys_error(std::string("open") + (flags & O_DIRECT ? "(O_DIRECT) " : " ") + path);
  }
  ~Fd() { close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct Usage {
  long minflt = 0, majflt = 0, ctxsw = 0;
  static Usage now() {
    rusage ru{};
    if (getrusage(RUSAGE_THREAD, &ru) != 0) throw sys_error("getrusage");
    return {ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw + ru.ru_nivcsw};
  }
  Usage operator-(const Usage& o) const { return {minflt - o.minflt, majflt - o.majflt, ctxsw - o.ctxsw}; }
  Usage& operator+=(const Usage& o) {
    minflt += o.minflt, majflt += o.majflt, ctxsw += o.ctxsw;
    return *this;
  }
};

// One thread's part of a cell: its pinning, its region of the file, its reader, its part
// in the cache state, and where it was seen running.
struct CellThread {
  CellThread(const Cell& cell, unsigned index_, unsigned threads_)
      : index(index_),
        threads(threads_),
        cache(g_sync, index_, threads_, cell.warm, g_run.mount.fstype, cell.method->direct) {}
  unsigned index, threads;
  bool pinned = false;
  std::optional<ScopedAffinity> affinity;
  std::vector<unsigned> allowed;  // read back after pinning
  std::set<unsigned> ran;         // CPUs seen at the start and end of the timed passes
  std::optional<PreparedFile> file;
  std::unique_ptr<Fd> fd;
  Target region;
  std::unique_ptr<Reader> reader;
  CellCache cache;
  RunQueueWait runq;  // this thread's: made by it
  std::optional<PmuCounters> pmu;  // this thread's, in one-thread cells where a PMU counts
};

// What the timed passes of one thread added up to.
struct PassTotals {
  uint64_t bytes = 0, requests = 0, fallbacks = 0;
  Usage usage;  // over the passes only: not the evictions or the meetings between them
  uint64_t cpu_ns = 0;                 // this thread's CPU time in its passes
  std::optional<uint64_t> runq_ns = 0;  // time it waited to run in them; nullopt: unknown
  std::optional<uint64_t> steal_ns;    // all CPUs' steal over the timed loop (10 ms grains)
};

// Skips a cell before its loop: it runs no iteration, and still passes Google Benchmark's
// own start and stop meeting points like the cell's other threads.
void skip_cell(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
}

// The file as the cell's method reads it: O_DIRECT methods skip (with the reason) where the
// filesystem refuses O_DIRECT, and on tmpfs (and devtmpfs), which since 6.6 accept it but
// serve it from the page cache that holds their files: there is no device to bypass it for.
std::unique_ptr<Fd> open_for(const Cell& cell, const std::string& path) {
  if (!cell.method->direct) return std::make_unique<Fd>(path);
  if (g_run.mount.memory_only())
    throw Error("O_DIRECT: " + g_run.mount.fstype +
                " keeps its files in the page cache; there is no device to read them from");
  try {
    return std::make_unique<Fd>(path, O_DIRECT);
  } catch (const Error& e) {
    if (e.err() != EINVAL) throw;
    throw Error(std::string(e.what()) + ": " + g_run.mount.fstype + " refuses O_DIRECT");
  }
}

// Whether this cell counts instructions: only one-thread cells, whose reader stays on one
// vCPU, the one the plugin counts.
bool counts_instructions(const CellThread& t) { return g_run.icount && t.threads == 1; }

void set_up(CellThread& t, const Cell& cell) {
  ThreadPlace place = plan_placement(g_run.placement, t.threads).at(t.index);
  // Counted on one vCPU: an unpinned reader is pinned where it runs now.
  if (counts_instructions(t) && place.cpus.empty()) {
    const int cpu = sched_getcpu();
    if (cpu < 0) throw sys_error("sched_getcpu");
    place.cpus = {static_cast<unsigned>(cpu)};
  }
  t.affinity.emplace(place);
  if (g_run.pmu && t.threads == 1) t.pmu.emplace(hardware_events());
  t.pinned = !place.cpus.empty();
  t.allowed = allowed_cpus();  // what the kernel granted, not what was asked
  t.file = g_files.acquire(cell.file);
  t.fd = open_for(cell, t.file->path);
  // Each thread reads its own region, aligned to the request size and the page size.
  const uint64_t align = std::max<uint64_t>(cell.io, page_size());
  const uint64_t share = (t.file->size + t.threads - 1) / t.threads;
  const uint64_t chunk = (share + align - 1) / align * align;
  t.region = {t.fd->get(), t.file->ino, t.file->size, std::min(t.file->size, chunk * t.index),
              std::min(t.file->size, chunk * (t.index + 1))};
  ReaderConfig config;
  config.method = cell.method;
  config.io = cell.io;
  config.qd = cell.qd;
  config.sqpoll_cpu = place.helper_cpu;
  config.seed = 0x5EED + t.index;
  t.reader = make_reader(config, t.region);
  t.cache.watch(t.region);
}

// An untimed pass, `pass`, of every thread together, between two meeting points; it must
// read the thread's whole region.
template <class Pass>
void untimed_together(CellThread& t, Pass&& pass) {
  g_sync.wait();
  g_sync.attempt([&] {
    const PassResult r = pass();
    if (r.bytes != t.region.end - t.region.begin)
      throw Error("untimed pass read " + std::to_string(r.bytes) + " bytes of " +
                  std::to_string(t.region.end - t.region.begin));
  });
  g_sync.wait();
}

// What one untimed pass of all threads added to myfs's hook counters and to the block
// device's read counters (each empty where there is nothing to count).
struct Counted {
  Counters hooks;
  std::optional<BlockReads> device;
  std::optional<CacheState> cache;  // the whole file's, after the pass (thread 0)
};

// An untimed pass of every thread in the cell's cache state. With check, every byte is
// checked against the content function (the witness pass: it runs once per call of the
// cell, so every repetition, cold or warm, is checked). With count, thread 0 reads myfs's
// hook counters and the block device's stat file before and after it while the other
// threads wait, so they count exactly this pass: it returns (on thread 0) what all
// threads' passes added.
Counted untimed_pass(CellThread& t, bool check, bool count) {
  Counted counted;
  Counters before;
  BlockReads device_before;
  const bool counts_hooks = count && t.index == 0 && !g_run.stats_path.empty();
  const bool counts_device = count && t.index == 0 && g_run.device && g_run.device->counts_io;
  if (counts_hooks) g_sync.attempt([&] { before = read_stats(g_run.stats_path); });
  if (counts_device) g_sync.attempt([&] { device_before = read_block_stat(g_run.device->stat_path); });
  untimed_together(t, [&] { return t.reader->pass(check); });
  if (counts_device)
    g_sync.attempt([&] { counted.device = read_block_stat(g_run.device->stat_path) - device_before; });
  if (counts_hooks) g_sync.attempt([&] { counted.hooks = counter_delta(before, read_stats(g_run.stats_path)); });
  // After the hook counters: mincore's mapping (where there is no cachestat) is no hook call
  // of the pass.
  if (count && t.index == 0) g_sync.attempt([&] { counted.cache = cache_state(t.fd->get(), t.file->size); });
  return counted;
}

// The witness pass, and the hook calls of a pass like the timed ones. A reader that keeps
// its mapping maps its pages in the first pass of a warm cell and the timed passes after it
// take no fault, so there the checked pass goes first, uncounted, and the pass after it is
// counted; everywhere else the checked pass is already like the timed ones and is counted.
Counted witness_and_count(CellThread& t, const Cell& cell) {
  if (!(cell.warm && cell.method->keeps_mapping)) return untimed_pass(t, true, true);
  untimed_pass(t, true, false);
  return untimed_pass(t, false, true);
}

// Why a remount was refused: the call's strerror, or the whole message for other errors.
std::string refusal(const Error& e) { return e.err() ? std::strerror(e.err()) : e.what(); }

// Thread 0, with the other threads waiting: myfs counting off for the timed passes, so
// that the cost of counting (which differs between kernels) is in none of them. Returns
// what the label should say when counting stays on.
std::string switch_counting_off(std::optional<CountingOff>& counting_off) {
  std::string refused = g_run.counting_refused;
  if (g_run.pause_counting) {
    try {
      counting_off.emplace(g_run.mount.mount_point);
    } catch (const Error& e) {
      refused = refusal(e);
    }
  }
  return refused.empty() ? "" : "timed with myfs counting on (remount refused: " + refused + ")";
}

// The latency pass: after the witness, with myfs counting off like the timed passes, and in
// the state they start in (cold cells evict before it), every thread's requests timed one
// by one into its own histogram. Returns, on thread 0, all threads' histograms merged.
std::optional<LatencyHistogram> latency_pass(CellThread& t, const std::function<void()>& release_mappings) {
  t.cache.prepare_pass(release_mappings);
  LatencyHistogram mine;
  untimed_together(t, [&] {
    const PassResult r = t.reader->latency_pass(mine);
    g_sync.add_latency(mine);
    return r;
  });
  if (t.index != 0) return std::nullopt;
  return g_sync.latency();
}

// Where the thread runs now: sampled at both ends of each timed pass, outside its clock.
void note_cpu(CellThread& t) {
  const int cpu = sched_getcpu();
  if (cpu < 0) throw sys_error("sched_getcpu");
  t.ran.insert(static_cast<unsigned>(cpu));
}

// One timed pass of this thread. Returns the time the pass is charged: for one thread its
// own; for several, the makespan of all threads' passes (they start together, and each
// reports the same makespan, which Google Benchmark's average over threads keeps).
double timed_pass(CellThread& t, PassTotals& totals) {
  if (t.threads > 1) {
    g_sync.wait();
    g_sync.throw_if_failed();
  }
  const Usage usage = Usage::now();
  const std::optional<uint64_t> waited = t.runq.ns();
  const uint64_t cpu = thread_cpu_ns();
  note_cpu(t);
  const bool count = counts_instructions(t);
  if (t.pmu) t.pmu->start();  // outside the clock: the ioctls are no part of the pass's time
  const Clock::time_point start = Clock::now();
  if (count) icount_begin();
  const PassResult r = t.reader->pass(false);
  if (count) icount_end();
  const Clock::time_point end = Clock::now();
  if (t.pmu) t.pmu->stop();
  note_cpu(t);
  totals.cpu_ns += thread_cpu_ns() - cpu;
  const std::optional<uint64_t> waited_after = t.runq.ns();
  totals.runq_ns = totals.runq_ns && waited && waited_after ? std::optional(*totals.runq_ns + *waited_after - *waited)
                                                             : std::nullopt;
  totals.usage += Usage::now() - usage;
  totals.bytes += r.bytes;
  totals.requests += r.requests;
  totals.fallbacks += r.fallbacks;
  if (t.threads == 1) return std::chrono::duration<double>(end - start).count();
  g_sync.record_pass(t.index, {start, end});
  g_sync.wait();
  g_sync.throw_if_failed();
  return g_sync.pass_makespan();
}

void set_counters(benchmark::State& state, const Cell& cell, const PassTotals& totals, const Counted& counted) {
  using benchmark::Counter;
  // Sums over threads: bytes_per_second is all bytes over the makespan.
  state.SetBytesProcessed(static_cast<int64_t>(totals.bytes));
  state.SetItemsProcessed(static_cast<int64_t>(totals.requests));
  // Per pass over a thread's region: Google Benchmark sums counters over threads and
  // kAvgIterations divides by the iterations of all threads.
  auto per_pass = [&](const char* name, long value) {
    state.counters[name] = Counter(static_cast<double>(value), Counter::kAvgIterations);
  };
  per_pass("minflt", totals.usage.minflt);
  per_pass("majflt", totals.usage.majflt);
  per_pass("ctxsw", totals.usage.ctxsw);
  // Where the wall time went besides the work: this thread's CPU time, its run-queue wait,
  // and the machine's steal (every thread reads the same steal: kAvgThreads keeps one).
  per_pass("cpu_ns", static_cast<long>(totals.cpu_ns));
  if (totals.runq_ns) per_pass("runq_ns", static_cast<long>(*totals.runq_ns));
  if (totals.steal_ns && state.iterations() > 0)
    state.counters["steal_ns"] =
        Counter(static_cast<double>(*totals.steal_ns) / static_cast<double>(state.iterations()), Counter::kAvgThreads);
  if (nowait_fallback(*cell.method)) per_pass("nowait_fallbacks", static_cast<long>(totals.fallbacks));
  // Thread 0 alone holds the hook calls of all threads' witness passes (the others add
  // nothing to the sum), so kAvgThreads gives the calls of one thread's pass, whatever the
  // number of timed iterations (kAvgIterations would divide by those).
  for (const auto& [name, calls] : counted.hooks)
    state.counters["myfs_" + name] = Counter(static_cast<double>(calls), Counter::kAvgThreads);
  // What the page cache holds of the file after that pass, in pages (thread 0 alone sets
  // them: the sum over threads leaves them as they are).
  if (const auto& cache = counted.cache) {
    state.counters["cache_pages"] = static_cast<double>(cache->cached);
    if (cache->evicted) state.counters["cache_evicted"] = static_cast<double>(*cache->evicted);
    if (cache->recently_evicted)
      state.counters["cache_recently_evicted"] = static_cast<double>(*cache->recently_evicted);
  }
  // The device's reads during the same pass, alike; the average request size is a ratio of
  // two of them, so it is not divided (thread 0 alone sets it: the sum leaves it as it is).
  if (const auto& dev = counted.device) {
    const double kib = static_cast<double>(dev->sectors) / 2;
    state.counters["dev_reads"] = Counter(static_cast<double>(dev->ios), Counter::kAvgThreads);
    state.counters["dev_read_merges"] = Counter(static_cast<double>(dev->merges), Counter::kAvgThreads);
    state.counters["dev_read_kib"] = Counter(kib, Counter::kAvgThreads);
    state.counters["dev_read_avg_kib"] = dev->ios ? kib / static_cast<double>(dev->ios) : 0.0;
    state.counters["dev_read_ms"] = Counter(static_cast<double>(dev->ms), Counter::kAvgThreads);
  }
}

// The instructions the reader's vCPU executed in the timed passes, per request: kernel,
// user and both (one thread: the cell's only one sets them).
void set_instruction_counters(benchmark::State& state, const PassTotals& totals, const InstructionCount& c) {
  if (c.brackets != static_cast<uint64_t>(state.iterations()))
    throw Error("instruction counter: " + std::to_string(c.brackets) + " passes counted of " +
                std::to_string(state.iterations()));
  if (totals.requests == 0) return;
  const auto per_request = [&](uint64_t n) { return static_cast<double>(n) / static_cast<double>(totals.requests); };
  state.counters["instructions_per_request"] = per_request(c.kernel + c.user);
  state.counters["kernel_instructions_per_request"] = per_request(c.kernel);
  state.counters["user_instructions_per_request"] = per_request(c.user);
  if (c.interrupts) state.counters["interrupt_instructions_per_request"] = per_request(*c.interrupts);
}

// Per request of the timed passes: the PMU's instructions and cycles, user and kernel apart,
// and the share of the time it counted them (below 1 where its counters were shared, the
// counts then scaled up as perf does).
void set_pmu_counters(benchmark::State& state, const PassTotals& totals, const PmuCounters::Counts& c) {
  if (totals.requests == 0) return;
  const auto per_request = [&](uint64_t n) { return static_cast<double>(n) / static_cast<double>(totals.requests); };
  const uint64_t user = c.values.at(0), kernel = c.values.at(1);
  state.counters["pmu_instructions_per_request"] = per_request(user + kernel);
  state.counters["pmu_user_instructions_per_request"] = per_request(user);
  state.counters["pmu_kernel_instructions_per_request"] = per_request(kernel);
  state.counters["pmu_cycles_per_request"] = per_request(c.values.at(2) + c.values.at(3));
  state.counters["pmu_kernel_cycles_per_request"] = per_request(c.values.at(3));
  state.counters["pmu_running_share"] = c.running_share;
}

// Per request, all threads merged; set by thread 0 alone, so Google Benchmark's sum over
// threads leaves them as they are.
void set_latency_counters(benchmark::State& state, const LatencyHistogram& latency) {
  state.counters["lat_count"] = static_cast<double>(latency.count());
  for (const auto& [name, percent] : {std::pair{"lat_p50_ns", 50.0}, {"lat_p90_ns", 90.0}, {"lat_p99_ns", 99.0},
                                      {"lat_p999_ns", 99.9}})
    state.counters[name] = static_cast<double>(latency.percentile(percent));
  state.counters["lat_max_ns"] = static_cast<double>(latency.max());
  state.counters["lat_mean_ns"] = latency.mean();
}

// "t0 cpus 0 ran 0; t1 cpus 1 ran 1", consecutive threads seen alike sharing one entry
// ("t0-3 unpinned ran 0-3"), so that the label stays readable with many threads.
std::string threads_seen(const std::vector<std::string>& notes) {
  std::string out;
  for (size_t first = 0; first < notes.size();) {
    size_t last = first;
    while (last + 1 < notes.size() && notes[last + 1] == notes[first]) ++last;
    out.append(out.empty() ? "t" : "; t").append(std::to_string(first));
    if (last > first) out.append("-").append(std::to_string(last));
    out.append(" ").append(notes[first]);
    first = last + 1;
  }
  return out;
}

// Every thread publishes where it ran; thread 0 writes the label from all of them.
void set_label(benchmark::State& state, const CellThread& t, const std::string& counting_note) {
  std::string seen;
  try {
    seen = placement_seen(t.pinned, t.allowed, {t.ran.begin(), t.ran.end()});
    if (const std::string helpers = t.reader->helpers_observed(); !helpers.empty()) seen += " (" + helpers + ")";
  } catch (const std::exception& e) {
    seen = std::string("not observed (") + e.what() + ")";  // and still on to the meeting point
  }
  g_sync.set_note(t.index, seen);
  g_sync.wait();
  if (t.index != 0) return;
  std::string label = threads_seen(g_sync.notes());
  if (const std::string setup = t.reader->setup_note(); !setup.empty()) label += "; " + setup;
  if (!counting_note.empty()) label += "; " + counting_note;
  state.SetLabel(label);
}

// Setup, cache state, witness, latency pass and counters are untimed; the loop is Google
// Benchmark's, timed by hand (SetIterationTime) around each pass. Until the loop, every
// thread reaches every meeting point, failed or not. `name` is the cell's as reported.
void run_cell(benchmark::State& state, const Cell& cell, const std::string& name) {
  CellThread t(cell, static_cast<unsigned>(state.thread_index()), static_cast<unsigned>(state.threads()));
  CellMember member(g_sync, t.threads);
  const auto release_mappings = [&t] { t.reader->release_mappings(); };

  g_sync.attempt([&] { set_up(t, cell); });
  t.cache.make(release_mappings);
  const Counted counted = witness_and_count(t, cell);
  std::optional<CountingOff> counting_off;  // thread 0's; on again on every way out
  std::string counting_note;
  if (t.index == 0) g_sync.attempt([&] { counting_note = switch_counting_off(counting_off); });
  g_sync.wait();
  const std::optional<LatencyHistogram> latency =  // thread 0's: every thread's requests
      g_run.latency ? latency_pass(t, release_mappings) : std::nullopt;
  if (const std::string failure = g_sync.failure(); !failure.empty()) return skip_cell(state, failure);

  PassTotals totals;
  // Clears what this vCPU's brackets added up to before (a cell that failed mid-loop).
  if (counts_instructions(t)) g_sync.attempt([] { g_run.icount->report(); });
  if (const std::string failure = g_sync.failure(); !failure.empty()) return skip_cell(state, failure);
  const std::optional<uint64_t> steal_before = steal_ns();
  for (auto _ : state) {
    try {
      t.cache.renew(release_mappings);  // cold cells: evict again, outside the clock
      state.SetIterationTime(timed_pass(t, totals));
    } catch (const std::exception& e) {
      g_sync.fail(e.what());
      member.leave();  // the other threads must not wait for this one at their next meeting
      state.SkipWithError(e.what());
      break;
    }
  }
  if (state.error_occurred()) return;
  if (const std::optional<uint64_t> steal_after = steal_ns(); steal_before && steal_after)
    totals.steal_ns = *steal_after - *steal_before;

  try {
    // Before anything else runs on this vCPU: the remount below is no part of a pass.
    if (counts_instructions(t)) {
      const InstructionCount count = g_run.icount->report();
      set_instruction_counters(state, totals, count);
      if (g_run.symbols && !count.kernel_blocks.empty())
        g_functions.keep(name, totals.requests, count.kernel, g_run.symbols->attribute(count.kernel_blocks));
    }
    if (t.pmu) set_pmu_counters(state, totals, t.pmu->read());
    if (counting_off) counting_off->on();
    set_counters(state, cell, totals, counted);
    if (latency) set_latency_counters(state, *latency);
    t.cache.check_still_warm();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  set_label(state, t, counting_note);
  // Google Benchmark reports a cell's iterations summed over its threads.
  if (latency && !state.error_occurred()) g_latency.keep(name, *latency, state.iterations() * state.threads());
}

// User-space bounds for read(2) (the table in reader.cpp says what each times), timed
// like the readers: a clock around each pass.
void run_memcpy(benchmark::State& state, const Cell& cell, const std::string&) {
  const uint64_t io = cell.io, file = cell.file;
  const bool large = cell.method->knobs.spread_copies;
  std::unique_ptr<Buffer> source, dest;
  try {
    source = std::make_unique<Buffer>(file);
    dest = std::make_unique<Buffer>(large ? file : io);
  } catch (const std::exception& e) {
    return skip_cell(state, e.what());
  }
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    for (uint64_t off = 0; off < file; off += io) {
      std::memcpy(dest->data() + (large ? off : 0), source->data() + off,
                  static_cast<size_t>(std::min(io, file - off)));
      benchmark::ClobberMemory();
    }
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * file));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ((file + io - 1) / io)));
}

// The name Google Benchmark reports for a cell registered with these ArgNames, Args,
// UseManualTime and Threads (the results' "name").
std::string reported_name(std::string_view method, const std::vector<std::string>& names,
                          const std::vector<int64_t>& args, unsigned threads) {
  std::string name(method);
  for (size_t i = 0; i < names.size(); ++i) name += "/" + names[i] + ":" + std::to_string(args[i]);
  return name + "/manual_time/threads:" + std::to_string(threads);
}

// Registers the cells and returns the methods (and baselines) that have at least one.
// Every cell is timed by hand (UseManualTime): the multi-threaded ones as a whole cell,
// and all the others the same way, so that no two cells are clocked differently.
std::vector<const MethodInfo*> register_cells(const Options& o) {
  std::vector<const MethodInfo*> registered;
  for (const Cell& cell : cells(o)) {
    const MethodInfo& m = *cell.method;
    std::vector<int64_t> args = {static_cast<int64_t>(cell.io), static_cast<int64_t>(cell.file), cell.warm};
    std::vector<std::string> names = {"io", "file", "warm"};
    if (m.uses_qd) args.push_back(cell.qd), names.push_back("qd");
    const auto run = m.family == Family::baseline ? run_memcpy : run_cell;
    const std::string name = reported_name(m.name, names, args, cell.threads);
    const auto body = [run, cell, name](benchmark::State& s) { run(s, cell, name); };
    benchmark::RegisterBenchmark(std::string(m.name).c_str(), body)
        ->Args(args)
        ->ArgNames(names)
        ->UseManualTime()
        ->Threads(static_cast<int>(cell.threads));
    if (std::find(registered.begin(), registered.end(), &m) == registered.end()) registered.push_back(&m);
  }
  return registered;
}

bool has_flag(int argc, char** argv, const char* flag) {
  const size_t len = std::strlen(flag);
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, len) == 0) return true;
  return false;
}

// The value of a Google Benchmark flag given as --flag=VALUE (the last one), or else of the
// environment variable Google Benchmark takes its default from; empty when neither is set.
std::string benchmark_flag(int argc, char** argv, const std::string& flag, const char* env) {
  std::string value;
  const std::string prefix = flag + "=";
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) value = argv[i] + prefix.size();
  if (value.empty() && !has_flag(argc, argv, prefix.c_str()))
    if (const char* from_env = std::getenv(env)) value = from_env;
  return value;
}

// Google Benchmark's display reporter, passing everything on, that also tells the latency
// log which repetitions of each cell were reported (a cell's repetitions come together,
// after its last one).
class LatencyReporter final : public benchmark::BenchmarkReporter {
 public:
  explicit LatencyReporter(benchmark::BenchmarkReporter& display) : display_(display) {}
  bool ReportContext(const Context& context) override { return display_.ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    std::map<std::string, std::vector<LatencyLog::ReportedRun>> reported;
    for (const Run& run : runs)
      if (run.run_type == Run::RT_Iteration && !run.error_occurred)
        reported[run.benchmark_name()].push_back({run.repetition_index, run.iterations});
    for (const auto& [cell, repetitions] : reported) {
      try {
        g_latency.reported(cell, repetitions);
      } catch (const Error& e) {
        std::cerr << "readpath_bench: latency histograms left out: " << e.what() << "\n";
      }
    }
    display_.ReportRuns(runs);
  }
  void Finalize() override { display_.Finalize(); }

 private:
  benchmark::BenchmarkReporter& display_;
};

// Runs the cells (with a latency pass, through LatencyReporter); returns how many ran.
size_t run_cells() {
  if (!g_run.latency) return benchmark::RunSpecifiedBenchmarks();
  LatencyReporter reporter(*benchmark::CreateDefaultDisplayReporter());
  return benchmark::RunSpecifiedBenchmarks(&reporter);
}

// What instruction_counting says, after asking the plugin once whether it is there.
std::string set_up_instruction_counting() {
  g_run.icount = InstructionCounter::from_environment();
  if (!g_run.icount) return "off";
  try {
    g_run.icount->report();
  } catch (const Error& e) {
    g_run.icount.reset();
    std::cerr << "readpath_bench: READPATH_ICOUNT is set but nothing counts: " << e.what() << "\n";
    return std::string("off (") + e.what() + ")";
  }
  return "on: QEMU TCG plugin readpath_icount; one-thread cells, the reader pinned to one vCPU; "
         "every instruction that vCPU executed within the timed passes (kernel: guest addresses from "
         "0xffff800000000000; interrupts and other tasks on that vCPU included, work on other vCPUs not)";
}

// What pmu_counting says, after opening the hardware events once.
std::string set_up_pmu_counting() {
  const std::string why = pmu_unavailable();
  g_run.pmu = why.empty();
  if (!g_run.pmu) return "off: " + why;
  return "on: perf_event_open, one-thread cells, the reader thread alone (not io-wq, SQPOLL or "
         "interrupts elsewhere): instructions and cycles of its timed passes, user and kernel apart";
}

// What instruction_attribution says, after reading the kernel's symbols once (counting on).
std::string set_up_instruction_attribution() {
  if (!g_run.icount) return "off";
  try {
    g_run.symbols = KernelSymbols::from_proc();
  } catch (const Error& e) {
    return std::string("off (") + e.what() + ")";
  }
  if (g_run.symbols->empty()) {
    g_run.symbols.reset();
    return "off: /proc/kallsyms shows no addresses to this user (kptr_restrict; run as root)";
  }
  return "by kernel function: each translation block's instructions go to the /proc/kallsyms text symbol "
         "at or below its first address (" + std::to_string(g_run.symbols->size()) +
         " symbols, modules' as `name [module]`); a block that runs on into the next function counts "
         "whole to the first; per cell in FILE.functions.json";
}

// What instruction_interrupts says, after handing the plugin the kernel's interrupt entry
// points (counting on, symbols read).
std::string set_up_interrupts_apart() {
  if (!g_run.icount) return "n/a";
  if (!g_run.symbols) return "in the counts: no kernel symbols to find the interrupt entry points by";
  const std::vector<uint64_t> entries = g_run.symbols->interrupt_entries();
  try {
    if (entries.empty()) throw Error("/proc/kallsyms names no asm_sysvec_* or asm_common_interrupt");
    g_run.icount->set_interrupt_entries(entries);
    if (!g_run.icount->report().interrupts) throw Error("the plugin did not take them (an older readpath_icount?)");
  } catch (const Error& e) {
    return std::string("in the counts: ") + e.what();
  }
  return "counted apart (interrupt_instructions_per_request): from " + std::to_string(entries.size()) +
         " interrupt entry points (asm_sysvec_*, asm_common_interrupt) to their iretq, the handlers, the softirqs "
         "on their way out and any task switched to from them; exceptions (page faults) stay in";
}

// What myfs_timed_counting says, after finding out whether counting can be switched off:
// a remount that names counting as it already is changes nothing, and tells whether this
// process may remount at all.
std::string set_up_counting() {
  if (!g_run.mount.is_myfs()) return "n/a";
  if (g_run.mount.has_option("counters=off")) return "off";  // and nothing to count
  try {
    if (!g_run.mount.from_mountinfo) throw Error("mount point unknown (not in /proc/self/mountinfo)");
    remount(g_run.mount.mount_point, "counters=on");
    g_run.pause_counting = true;
    return "off";
  } catch (const Error& e) {
    g_run.counting_refused = refusal(e);
    return "on (remount refused: " + g_run.counting_refused + ")";
  }
}

int main_impl(int argc, char** argv) {
  Options o;
  try {
    o = parse_options(argc, argv);
    if (o.help) {
      std::cout << usage();
      return 0;
    }
    if (o.list_profiles) {
      std::cout << profiles_json() << "\n";
      return 0;
    }
    if (o.list_methods) {
      std::vector<const MethodInfo*> all;
      for (const auto& m : methods()) all.push_back(&m);
      for (const auto& m : baselines()) all.push_back(&m);
      std::cout << methods_json(all, true) << "\n";
      return 0;
    }
    g_run.fresh_dir = o.dir.empty();
    if (g_run.fresh_dir) {
      const ScratchParent scratch = default_scratch_parent();
      g_run.parent = scratch.path;
      g_run.dir_note = scratch.note;
    } else {
      g_run.parent = o.dir;
    }
    check_dir(g_run.parent);
    g_run.mount = mount_of(g_run.parent);
    if (o.show_dir) {
      std::cout << "{\"dir\": " << json_string(g_run.parent) << ", \"fs\": " << json_string(g_run.mount.fstype)
                << ", \"fresh\": " << (g_run.fresh_dir ? "true" : "false") << ", \"note\": " << json_string(g_run.dir_note)
                << "}\n";
      return 0;
    }
    if (!g_run.dir_note.empty()) std::cerr << "readpath_bench: " << g_run.dir_note << "\n";
    g_run.placement = o.placement;
    g_run.keep_files = o.keep_files;
    g_run.latency = o.latency;
  } catch (const UsageError& e) {
    std::cerr << "readpath_bench: " << e.what() << "\n(readpath_bench --help lists the options)\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "readpath_bench: " << e.what() << "\n";
    return 2;
  }
  g_run.synthetic = g_run.mount.is_myfs() && g_run.mount.has_option("synthetic");
  g_run.image = g_run.mount.is_myfs_block();
  // Listing runs nothing, so it needs no files.
  if (g_run.image && !has_flag(argc, argv, "--benchmark_list_tests")) {
    std::vector<uint64_t> missing;
    try {
      for (uint64_t size : o.file_sizes)
        if (!find_image_file(g_run.parent, size)) missing.push_back(size);
    } catch (const Error& e) {
      std::cerr << "readpath_bench: " << e.what() << " (tools/mkfs.myfs --engine-sizes writes the files it reads)\n";
      return 2;
    }
    if (!missing.empty()) {
      std::cerr << "readpath_bench: " << missing_images(g_run.parent, o.file_sizes, missing) << "\n";
      return 2;
    }
  }
  g_run.device = block_device_of(g_run.mount.major, g_run.mount.minor);
  if (g_run.mount.is_myfs() && !g_run.mount.has_option("counters=off")) {
    g_run.stats_path = myfs_stats_path(g_run.mount);
    try {
      for (const auto& [name, value] : read_stats(g_run.stats_path))
        g_run.counter_names.append(g_run.counter_names.empty() ? "" : ",").append(name);
    } catch (const Error& e) {
      std::cerr << "readpath_bench: " << g_run.parent << " is on myfs but its counters are unreadable: "
                << e.what() << "\n";
      return 2;
    }
  }
  for (const auto& note : o.notes) std::cerr << "readpath_bench: " << note << "\n";
  if (!g_run.mount.note.empty()) std::cerr << "readpath_bench: " << g_run.mount.note << "\n";

  // The profile's minimum time unless the user chose one (a per-benchmark MinTime would
  // also appear in every cell's name).
  std::vector<char*> args(argv, argv + argc);
  std::string min_time = "--benchmark_min_time=" + std::to_string(o.min_time);
  if (!has_flag(argc, argv, "--benchmark_min_time")) args.push_back(min_time.data());
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) {
    std::cerr << "(readpath_bench --help lists the options)\n";
    return 2;
  }

  install_cleanup_handlers();
  set_signal_cleanup(restore_counting_after_signal);
  const std::vector<const MethodInfo*> registered = register_cells(o);
  const bool listing = has_flag(argc, argv, "--benchmark_list_tests");
  // FILE.latency.json belongs to this run's FILE: one left by an earlier run goes now.
  const std::string out = benchmark_flag(argc, argv, "--benchmark_out", "BENCHMARK_OUT");
  const std::string sidecar = out.empty() || listing ? "" : out + ".latency.json";
  const std::string functions_sidecar = out.empty() || listing ? "" : out + ".functions.json";
  for (const std::string& old : {sidecar, functions_sidecar})
    if (!old.empty() && unlink(old.c_str()) != 0 && errno != ENOENT) {
      std::cerr << "readpath_bench: " << sys_error("unlink " + old).what() << "\n";
      return 1;
    }

  for (const auto& [key, value] : capture_environment(g_run.parent)) benchmark::AddCustomContext(key, value);
  benchmark::AddCustomContext("profile", o.profile);
  benchmark::AddCustomContext("dir", g_run.fresh_dir ? g_run.parent + "/readpath-XXXXXX (fresh)" : g_run.parent);
  if (!g_run.dir_note.empty()) benchmark::AddCustomContext("dir_note", g_run.dir_note);
  benchmark::AddCustomContext("placement", std::string(placement_name(o.placement)));
  benchmark::AddCustomContext("topology", topology_summary());
  benchmark::AddCustomContext("page_size", std::to_string(page_size()));
  benchmark::AddCustomContext("cache_state_via", cache_state_source());
  benchmark::AddCustomContext("cold_passes", "evicted with POSIX_FADV_DONTNEED before every pass and confirmed "
                                             "with mincore (no page resident); skipped where that cannot be");
  benchmark::AddCustomContext("myfs_synthetic", g_run.synthetic ? "1" : "0");
  // The names come from myfs itself, in its order: the scripts keep no list of their own.
  if (!g_run.counter_names.empty()) benchmark::AddCustomContext("myfs_counters", g_run.counter_names);
  // Listing runs nothing, so it needs no remount.
  benchmark::AddCustomContext("myfs_timed_counting", listing ? "n/a" : set_up_counting());
  benchmark::AddCustomContext("instruction_counting", listing ? "off" : set_up_instruction_counting());
  benchmark::AddCustomContext("instruction_attribution", listing ? "off" : set_up_instruction_attribution());
  benchmark::AddCustomContext("instruction_interrupts", listing ? "n/a" : set_up_interrupts_apart());
  benchmark::AddCustomContext("pmu_counting", listing ? "off" : set_up_pmu_counting());
  benchmark::AddCustomContext("methods", methods_json(registered));
  benchmark::AddCustomContext("latency", g_run.latency ? "on" : "off");
  // What the per-pass cpu_ns, runq_ns and steal_ns counters hold here (cpu_usage.hpp).
  benchmark::AddCustomContext("cpu_ns", "the reading threads' own CPU time (no steal, no run-queue wait; "
                                        "not io-wq, SQPOLL, interrupts or device waits)");
  const std::string runq_missing = RunQueueWait().unavailable();
  benchmark::AddCustomContext("runq_ns", runq_missing.empty() ? "the reading threads' run-queue wait (schedstat)"
                                                              : "not recorded: " + runq_missing);
  benchmark::AddCustomContext("steal_ns", steal_ns() ? "all CPUs' steal over the timed passes (/proc/stat, 10 ms grains)"
                                                     : "not recorded: /proc/stat has no steal field");
  benchmark::AddCustomContext("latency_timer_ns", std::to_string(timer_overhead_ns()));

  const size_t ran = run_cells();
  benchmark::Shutdown();
  g_files.finish();
  remove_tracked_paths();
  if (ran == 0 && !listing) {
    std::cerr << "readpath_bench: no cell matches; --benchmark_list_tests shows the cells of profile "
              << o.profile << "\n";
    return 2;
  }
  // Written whole at the end, so that an interrupted run leaves none.
  if (g_run.latency && !sidecar.empty()) g_latency.write(sidecar);
  if (!g_functions.empty() && !functions_sidecar.empty()) g_functions.write(functions_sidecar);
  return 0;
}

}  // namespace
}  // namespace readpath

int main(int argc, char** argv) {
  try {
    return readpath::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "readpath_bench: " << e.what() << "\n";
    readpath::remove_tracked_paths();
    return 1;
  }
}
