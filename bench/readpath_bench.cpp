// readpath_bench: Google Benchmark registrations over libreadpath.
//
// One cell = method × io size × file size × cache state [× queue depth] × threads. One
// iteration is one pass over the thread's region of the file. Before the timed loop each
// thread pins itself, builds its reader, checks every byte of one pass against the
// content function and sets up the cache state. Inside the timed region: the reader's
// pass only; for cold cells, the eviction before each pass runs with the timer paused.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>

#include "cache.hpp"
#include "environment.hpp"
#include "error.hpp"
#include "files.hpp"
#include "mounts.hpp"
#include "options.hpp"
#include "placement.hpp"
#include "reader.hpp"

namespace readpath {
namespace {

struct Cell {
  const MethodInfo* method;
  uint64_t io;
  uint64_t file;
  bool warm;
  unsigned qd;
};

// Where files go and what kind of filesystem it is; fixed before any cell runs.
struct Run {
  std::string parent;      // --dir, or /dev/shm for a fresh directory
  bool fresh_dir = false;
  std::string dir;         // made on first use when fresh
  MountInfo mount;
  bool synthetic = false;  // myfs -o synthetic: myfs makes the content
  bool keep_files = false;
  std::string stats_path;  // myfs counters, empty elsewhere
  Placement placement = Placement::none;
};
Run g_run;

// The one prepared file: cells run in file-size order, so one file at a time is enough
// and keeps memory use to the largest file.
class FileStore {
 public:
  PreparedFile acquire(uint64_t size) {
    std::lock_guard lock(mutex_);
    if (current_ && current_->size == size) return *current_;
    if (failed_size_ == size) throw Error(failed_reason_);
    if (current_) release(*current_), current_.reset();
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

// What the threads of one cell share: a barrier, and the first failure any of them hit.
// Cell runs follow one another (Google Benchmark joins a run's threads before the next
// starts), so the state resets when the first thread of a run enters. A thread that
// leaves early (after an error) stops counting, so the others never wait for it.
class CellSync {
 public:
  void enter() {
    std::lock_guard lock(mutex_);
    if (inside_++ == 0) arrived_ = left_ = 0, failure_.clear();
  }
  void leave(unsigned threads) {
    std::lock_guard lock(mutex_);
    ++left_;
    --inside_;
    release_if_complete(threads);
  }
  // Waits until every thread still taking part has arrived.
  void wait(unsigned threads) {
    std::unique_lock lock(mutex_);
    const uint64_t generation = generation_;
    ++arrived_;
    if (release_if_complete(threads)) return;
    cv_.wait(lock, [&] { return generation_ != generation; });
  }
  void fail(const std::string& why) {
    std::lock_guard lock(mutex_);
    if (failure_.empty()) failure_ = why;
  }
  std::string failure() {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  bool release_if_complete(unsigned threads) {
    if (arrived_ == 0 || arrived_ + left_ < threads) return false;
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return true;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned inside_ = 0, arrived_ = 0, left_ = 0;
  uint64_t generation_ = 0;
  std::string failure_;
};
CellSync g_sync;

// Enters g_sync for the lifetime of one thread's run of a cell.
class SyncMember {
 public:
  explicit SyncMember(unsigned threads) : threads_(threads) { g_sync.enter(); }
  ~SyncMember() { g_sync.leave(threads_); }
  SyncMember(const SyncMember&) = delete;
  SyncMember& operator=(const SyncMember&) = delete;

 private:
  unsigned threads_;
};

class Fd {
 public:
  explicit Fd(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw sys_error("open " + path);
  }
  ~Fd() { close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

Counters snapshot_myfs() { return g_run.stats_path.empty() ? Counters{} : read_stats(g_run.stats_path); }

struct Usage {
  long minflt = 0, majflt = 0, ctxsw = 0;
  static Usage now() {
    rusage ru{};
    if (getrusage(RUSAGE_THREAD, &ru) != 0) throw sys_error("getrusage");
    return {ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw + ru.ru_nivcsw};
  }
};

// Cells whose readers have passed the content check on the current file (keys name the
// reader, its thread and the file's inode and size).
class VerifiedSet {
 public:
  bool contains(const std::string& key) {
    std::lock_guard lock(mutex_);
    return keys_.count(key) != 0;
  }
  void insert(const std::string& key) {
    std::lock_guard lock(mutex_);
    keys_.insert(key);
  }

 private:
  std::mutex mutex_;
  std::set<std::string> keys_;
};
VerifiedSet g_verified;

// How many pages of the target's region a residency fraction leaves out.
std::string missing_pages(double resident, const Target& t) {
  const double pages = static_cast<double>((t.end - t.begin + page_size() - 1) / page_size());
  return std::to_string(std::llround((1.0 - resident) * pages));
}

// Thread 0 makes the whole file cold (every thread has stopped reading and dropped its
// mappings: readahead of one thread reaches into its neighbour's region) and checks it.
void evict_whole_file(const Target& whole, ResidencyProbe& probe) {
  evict(whole.fd, 0, whole.size);
  const double resident = probe.fraction();
  if (resident > 0.0)
    throw Error("cold: POSIX_FADV_DONTNEED left " + percent(resident) + " of the file in the page cache on " +
                g_run.mount.fstype);
}

void run_cell(benchmark::State& state, const Cell& cell) {
  const unsigned threads = static_cast<unsigned>(state.threads());
  const unsigned index = static_cast<unsigned>(state.thread_index());
  SyncMember member(threads);
  std::optional<PreparedFile> file;
  std::unique_ptr<Fd> fd;
  std::optional<ScopedAffinity> affinity;
  std::unique_ptr<Reader> reader;
  std::unique_ptr<ResidencyProbe> residency, whole_residency;
  Target target, whole;
  Counters myfs_before;

  // ---- setup, untimed: every thread reaches both meeting points, failed or not ----
  try {
    const ThreadPlace place = plan_placement(g_run.placement, threads).at(index);
    affinity.emplace(place);
    file = g_files.acquire(cell.file);
    fd = std::make_unique<Fd>(file->path);
    // Each thread reads its own region, aligned to the request size and the page size.
    const uint64_t align = std::max<uint64_t>(cell.io, page_size());
    const uint64_t share = (file->size + threads - 1) / threads;
    const uint64_t chunk = (share + align - 1) / align * align;
    target = {fd->get(), file->ino, file->size, std::min(file->size, chunk * index),
              std::min(file->size, chunk * (index + 1))};
    whole = {fd->get(), file->ino, file->size, 0, file->size};
    ReaderConfig config;
    config.method = cell.method;
    config.io = cell.io;
    config.qd = cell.qd;
    config.sqpoll_cpu = place.helper_cpu;
    config.seed = 0x5EED + index;
    reader = make_reader(config, target);
    residency = std::make_unique<ResidencyProbe>(target.fd, target.begin, target.end);
    if (index == 0) whole_residency = std::make_unique<ResidencyProbe>(whole.fd, 0, whole.size);

    // A filesystem that cannot evict at all (tmpfs) has no cold cells: say so before
    // anything costly. (With several threads, a neighbour's readahead can refill the
    // region meanwhile; the synchronized whole-file check below decides then.)
    if (!cell.warm && threads == 1) {
      evict(target.fd, target.begin, target.end);
      if (target.end > target.begin && residency->fraction() == 1.0)
        throw Error("cold: POSIX_FADV_DONTNEED cannot evict on " + g_run.mount.fstype);
    }

    // Verify before timing: one full pass, every byte against the content function.
    // Google Benchmark calls this function again for each repetition (and while it sizes
    // the iteration count); the same reader on the same file is verified once.
    const std::string verified_key = std::string(cell.method->name) + "/" + std::to_string(cell.io) + "/" +
                                     std::to_string(cell.qd) + "/" + std::to_string(threads) + "/" +
                                     std::to_string(index) + "/" + std::to_string(file->ino) + "/" +
                                     std::to_string(file->size);
    if (!g_verified.contains(verified_key)) {
      const PassResult check = reader->pass(true);
      if (check.bytes != target.end - target.begin)
        throw Error("verification pass read " + std::to_string(check.bytes) + " bytes of " +
                    std::to_string(target.end - target.begin));
      g_verified.insert(verified_key);
    } else if (cell.warm && cell.method->name == "mmap_copy") {
      reader->pass(false);  // as the verification pass would: map the pages before timing
    }

    if (cell.warm) make_warm(target.fd, target.begin, target.end);
    else reader->release_mappings();

    if (index == 0) {
      std::string label(place.cpus.empty() ? "unpinned" : "cpus");
      for (unsigned cpu : place.cpus) label.append(" ").append(std::to_string(cpu));
      if (!reader->setup_note().empty()) label.append("; ").append(reader->setup_note());
      state.SetLabel(label);
    }
  } catch (const std::exception& e) {
    g_sync.fail(e.what());
  }
  g_sync.wait(threads);  // every thread has verified and warmed or dropped its mappings
  if (index == 0 && g_sync.failure().empty()) {
    try {
      if (cell.warm) {
        // Reclaim (memory pressure, DAMON pageout) may take pages right after they were
        // read: read them again, a few times, before calling the cell impossible.
        double resident = whole_residency->fraction();
        for (int attempt = 0; resident < 1.0 && attempt < 3; ++attempt) {
          make_warm(whole.fd, 0, whole.size);
          resident = whole_residency->fraction();
        }
        if (resident < 1.0)
          throw Error("warm: " + missing_pages(resident, whole) +
                      " pages keep leaving the page cache (reclaim: memory pressure or DAMON)");
      } else {
        evict_whole_file(whole, *whole_residency);
      }
      myfs_before = snapshot_myfs();  // after all setup reads, before the first pass
    } catch (const std::exception& e) {
      g_sync.fail(e.what());
    }
  }
  g_sync.wait(threads);
  if (const std::string failure = g_sync.failure(); !failure.empty()) {
    state.SkipWithError(failure.c_str());
    for (auto _ : state) {
    }  // runs no iteration; keeps Google Benchmark's own start/stop barriers matched
    return;
  }

  uint64_t bytes = 0, requests = 0, fallbacks = 0;
  Usage usage_before{};
  try {
    usage_before = Usage::now();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }

  // ---- timed loop ----
  for (auto _ : state) {
    try {
      if (!cell.warm) {
        state.PauseTiming();  // eviction and its check are not part of the cost
        reader->release_mappings();
        g_sync.wait(threads);  // nobody reads while thread 0 evicts
        if (index == 0 && g_sync.failure().empty()) {
          try {
            evict_whole_file(whole, *whole_residency);
          } catch (const std::exception& e) {
            g_sync.fail(e.what());
          }
        }
        g_sync.wait(threads);
        if (const std::string failure = g_sync.failure(); !failure.empty()) throw Error(failure);
        state.ResumeTiming();
      }
      const PassResult r = reader->pass(false);  // timed: the reads and nothing else
      bytes += r.bytes;
      requests += r.requests;
      fallbacks += r.fallbacks;
    } catch (const std::exception& e) {
      g_sync.fail(e.what());
      state.SkipWithError(e.what());
      break;
    }
  }
  if (state.error_occurred()) return;

  // ---- counters, untimed ----
  try {
    const Usage usage_after = Usage::now();
    using benchmark::Counter;
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.SetItemsProcessed(static_cast<int64_t>(requests));
    state.counters["minflt"] = Counter(static_cast<double>(usage_after.minflt - usage_before.minflt), Counter::kAvgIterations);
    state.counters["majflt"] = Counter(static_cast<double>(usage_after.majflt - usage_before.majflt), Counter::kAvgIterations);
    state.counters["ctxsw"] = Counter(static_cast<double>(usage_after.ctxsw - usage_before.ctxsw), Counter::kAvgIterations);
    if (cell.method->name == "preadv2_nowait")
      state.counters["nowait_fallbacks"] = Counter(static_cast<double>(fallbacks), Counter::kAvgIterations);
    if (!g_run.stats_path.empty()) {
      // Thread 0 reads the per-mount counters (Google Benchmark's stop barrier has let
      // every thread finish); the sum over threads (the others add zero) divided by all
      // threads' iterations is per pass.
      const Counters after = index == 0 ? snapshot_myfs() : Counters{};
      for (const auto& [name, value] : after) {
        uint64_t before = 0;
        for (const auto& [n, v] : myfs_before)
          if (n == name) before = v;
        state.counters["myfs_" + name] = Counter(static_cast<double>(value - before), Counter::kAvgIterations);
      }
    }
    if (cell.warm) {
      const double resident = residency->fraction();
      if (resident < 1.0) {
        state.SkipWithError(("warm: " + missing_pages(resident, target) +
                             " pages left the page cache during the run (reclaim: memory pressure "
                             "or DAMON); the timings are not all warm").c_str());
      }
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// User-space bounds for read(2). memcpy: the same io-sized copies into the same kind of
// reused buffer, from anonymous memory instead of the page cache. memcpy_large: the
// usual "memcpy bandwidth", every chunk to its own place in a second file-sized buffer
// (memory to memory). Timed: the memcpy calls.
void run_memcpy(benchmark::State& state, uint64_t io, uint64_t file, bool large) {
  std::unique_ptr<Buffer> source, dest;
  try {
    source = std::make_unique<Buffer>(file);
    dest = std::make_unique<Buffer>(large ? file : io);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) {
    for (uint64_t off = 0; off < file; off += io) {
      std::memcpy(dest->data() + (large ? off : 0), source->data() + off,
                  static_cast<size_t>(std::min(io, file - off)));
      benchmark::ClobberMemory();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * file));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ((file + io - 1) / io)));
}

bool applies_threads(const Options& o, const MethodInfo& m, unsigned threads) {
  if (threads == 1 || o.threads_given || o.threaded_methods.empty()) return true;
  return std::find(o.threaded_methods.begin(), o.threaded_methods.end(), m.name) != o.threaded_methods.end();
}

void register_cells(const Options& o) {
  for (uint64_t file : o.file_sizes) {
    if (o.baseline) {
      for (uint64_t io : o.io_sizes) {
        if (io > file) continue;
        for (bool large : {false, true})
          benchmark::RegisterBenchmark(large ? "memcpy_large" : "memcpy",
                                       [io, file, large](benchmark::State& s) { run_memcpy(s, io, file, large); })
              ->Args({static_cast<int64_t>(io), static_cast<int64_t>(file), 1})
              ->ArgNames({"io", "file", "warm"})
              ->UseRealTime()
              ->Threads(1);
      }
    }
    for (const MethodInfo* m : o.methods) {
      std::vector<uint64_t> ios = m->uses_io ? o.io_sizes : std::vector<uint64_t>{page_size()};
      for (uint64_t io : ios) {
        if (io > file) continue;
        std::vector<unsigned> qds = m->uses_qd ? o.qds : std::vector<unsigned>{0};
        for (unsigned qd : qds) {
          for (int warm : o.warm) {
            for (unsigned t : o.threads) {
              if (!applies_threads(o, *m, t) || file / t < io) continue;
              const Cell cell{m, io, file, warm == 1, qd};
              auto* b = benchmark::RegisterBenchmark(std::string(m->name).c_str(),
                                                     [cell](benchmark::State& s) { run_cell(s, cell); });
              std::vector<int64_t> args = {static_cast<int64_t>(io), static_cast<int64_t>(file), warm};
              std::vector<std::string> names = {"io", "file", "warm"};
              if (m->uses_qd) args.push_back(qd), names.push_back("qd");
              // Real time: reads block (cold cells wait for the disk) and threads overlap.
              b->Args(args)->ArgNames(names)->UseRealTime()->Threads(static_cast<int>(t));
            }
          }
        }
      }
    }
  }
}

bool has_flag(int argc, char** argv, const char* flag) {
  const size_t len = std::strlen(flag);
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, len) == 0) return true;
  return false;
}

int main_impl(int argc, char** argv) {
  Options o;
  try {
    o = parse_options(argc, argv);
    if (o.help) {
      std::cout << usage();
      return 0;
    }
    g_run.fresh_dir = o.dir.empty();
    g_run.parent = g_run.fresh_dir ? "/dev/shm" : o.dir;
    check_dir(g_run.parent);
    g_run.mount = mount_of(g_run.parent);
    g_run.placement = o.placement;
    g_run.keep_files = o.keep_files;
  } catch (const UsageError& e) {
    std::cerr << "readpath_bench: " << e.what() << "\n(readpath_bench --help lists the options)\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "readpath_bench: " << e.what() << "\n";
    return 2;
  }
  g_run.synthetic = g_run.mount.is_myfs() && g_run.mount.has_option("synthetic");
  if (g_run.mount.is_myfs()) {
    g_run.stats_path = myfs_stats_path(g_run.mount);
    try {
      read_stats(g_run.stats_path);
    } catch (const Error& e) {
      std::cerr << "readpath_bench: " << g_run.parent << " is on myfs but its counters are unreadable: "
                << e.what() << "\n";
      return 2;
    }
  }
  for (const auto& note : o.notes) std::cerr << "readpath_bench: " << note << "\n";

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
  register_cells(o);

  for (const auto& [key, value] : capture_environment(g_run.parent)) benchmark::AddCustomContext(key, value);
  benchmark::AddCustomContext("profile", o.profile);
  benchmark::AddCustomContext("dir", g_run.fresh_dir ? g_run.parent + "/readpath-XXXXXX (fresh)" : g_run.parent);
  benchmark::AddCustomContext("placement", std::string(placement_name(o.placement)));
  benchmark::AddCustomContext("topology", topology_summary());
  benchmark::AddCustomContext("page_size", std::to_string(page_size()));
  benchmark::AddCustomContext("myfs_synthetic", g_run.synthetic ? "1" : "0");

  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_files.finish();
  remove_tracked_paths();
  if (ran == 0 && !has_flag(argc, argv, "--benchmark_list_tests")) {
    std::cerr << "readpath_bench: no cell matches; --benchmark_list_tests shows the cells of profile "
              << o.profile << "\n";
    return 2;
  }
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
