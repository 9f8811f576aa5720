// Options and profiles of readpath_bench.
#include "options.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <type_traits>

#include "environment.hpp"
#include "error.hpp"

namespace readpath {
namespace {

constexpr uint64_t K = 1024, M = K * K, G = M * K;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<unsigned> parse_counts(const std::string& option, const std::string& text, unsigned max) {
  std::vector<unsigned> out;
  for (const auto& item : split(text)) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(item.c_str(), &end, 10);
    if (*end != '\0' || item[0] == '-' || v == 0 || v > max)
      throw UsageError(option + ": bad value \"" + item + "\" (a whole number from 1 to " +
                       std::to_string(max) + ")");
    out.push_back(static_cast<unsigned>(v));
  }
  if (out.empty()) throw UsageError(option + ": empty list");
  return out;
}

std::vector<uint64_t> sizes(const std::string& option, const std::string& text) {
  try {
    return parse_size_list(text);
  } catch (const Error& e) {
    throw UsageError(option + ": " + e.what());
  }
}

std::vector<std::string> all_methods() {
  std::vector<std::string> names;
  for (const auto& m : methods()) names.emplace_back(m.name);
  return names;
}

// 1, 2, 4, ... up to the number of online CPUs.
std::vector<unsigned> powers_of_two_to_cpus() {
  const unsigned cpus = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  std::vector<unsigned> counts;
  for (unsigned n = 1; n <= cpus; n *= 2) counts.push_back(n);
  return counts;
}

std::string method_list() {
  std::string all;
  for (const auto& m : methods()) all.append(all.empty() ? "" : ", ").append(m.name);
  return all;
}

}  // namespace

// rounds: how many separate processes of readpath_bench time each cell in `readpath run`,
// interleaved with the other chunks; repetitions: how many times each of them does. The
// round is the unit compare counts (repetitions of one process move together), so the
// profiles take many rounds of one repetition: as many timed repetitions as before, now
// 12 or 10 independent values a cell, which gives Welch's t-test on the rounds 22 or 18
// degrees of freedom against two runs of each. min_time is per repetition.
// duration: `readpath run` with the profile, measured on the 2-core development host while
// other work shared it (load 3-7), native cold cells on ext4 included: quick 5 min 48 s
// without the guest, 6 min with it; default 21 min 25 s (3 min of it the 6.1 guest).
const std::vector<Profile>& profiles() {
  static const std::vector<Profile> table = {
      {.name = "tiny",
       .summary = "the main methods at 4K and 64K on a 1M file: smoke tests, guests",
       .duration = "under a minute",
       .rounds = 3, .repetitions = 1,
       .methods = {"read", "pread", "uring", "uring_fixed", "mmap_copy", "mmap_touch", "mmap_populate",
                   "pread_direct", "uring_direct"},
       .io_sizes = {4 * K, 64 * K}, .file_sizes = {1 * M}, .qds = {1, 8}, .threads = {1}, .warm = {1, 0},
       .min_time = 0.01, .latency = true,
       .tcg = {.min_time = 0.002, .file_sizes = {1 * M}}},
      {.name = "quick",
       .summary = "the main methods at 4K to 1M on 16M and 256M, and memcpy",
       .duration = "5 to 8 minutes",
       .rounds = 12, .repetitions = 1,
       .methods = {"read", "pread", "pread_rand", "uring", "uring_fixed", "mmap_copy", "mmap_touch",
                   "mmap_populate", "pread_direct", "uring_direct"},
       .io_sizes = {4 * K, 64 * K, 1 * M}, .file_sizes = {16 * M, 256 * M}, .qds = {1, 32}, .threads = {1},
       .warm = {1, 0}, .cold_file_sizes = {16 * M},
       .min_time = 0.03, .baseline = true, .latency = false,
       .tcg = {.min_time = 0.005, .file_sizes = {16 * M}}},
      {.name = "default",
       .summary = "most methods at 4K to 4M on 1M to 256M, pread and uring threaded",
       .duration = "15 to 20 minutes",
       .rounds = 10, .repetitions = 1,
       .methods = {"read", "pread", "pread_rand", "preadv2_nowait", "uring", "uring_fixed", "uring_sqpoll",
                   "mmap_copy", "mmap_touch", "mmap_populate", "mmap_populate_read", "pread_direct",
                   "uring_direct"},
       .io_sizes = {4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M}, .file_sizes = {1 * M, 16 * M, 256 * M},
       .qds = {1, 32}, .threads = {1, 2}, .warm = {1, 0}, .cold_file_sizes = {1 * M, 16 * M},
       .min_time = 0.04, .threaded_methods = {"pread", "uring"}, .baseline = true, .latency = false,
       .tcg = {.min_time = 0.01, .file_sizes = {1 * M, 16 * M}}},
      {.name = "full",
       .summary = "every method, queue depths 1 to 128, up to a thread per CPU",
       .duration = "hours (not measured here)",
       .rounds = 12, .repetitions = 1,
       .methods = all_methods(),
       .io_sizes = {4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M}, .file_sizes = {1 * M, 16 * M, 256 * M, 1 * G},
       .qds = {1, 4, 16, 32, 128}, .threads = powers_of_two_to_cpus(), .warm = {1, 0},
       .min_time = 0.2, .baseline = true, .latency = false,
       .tcg = {.min_time = 0.02, .file_sizes = {1 * M, 16 * M}}},
  };
  return table;
}

const Profile& profile(const std::string& name) {
  for (const Profile& p : profiles())
    if (p.name == name) return p;
  std::string all;
  for (const Profile& p : profiles()) all.append(all.empty() ? "" : ", ").append(p.name);
  throw UsageError("--profile: unknown profile \"" + name + "\"; choose one of " + all);
}

namespace {

// The lists given on the command line, as text; empty: the profile's.
struct Given {
  std::string methods, io, files, qd, threads, cache, placement;
  std::optional<bool> latency;  // --latency, --no-latency (the last one given)
};

// O_DIRECT methods have cold cells only, at io sizes that are multiples of kDirectAlign;
// cells() leaves the others out. Asked for by name, a method that would then have no cell
// at all is a usage error; one of the profile's loses those cells with a note.
void direct_cells(Options& o, const Given& given) {
  std::string odd;
  for (uint64_t io : o.io_sizes)
    if (io % kDirectAlign != 0) odd.append(odd.empty() ? "" : ",").append(format_size(io));
  const bool cold = std::find(o.warm.begin(), o.warm.end(), 0) != o.warm.end();
  for (const MethodInfo* m : o.methods) {
    if (!m->direct) continue;
    const std::string name(m->name);
    if (!given.methods.empty() && !cold)
      throw UsageError("--methods " + name + ": O_DIRECT methods have only cold cells; --cache warm gives it none");
    if (!given.methods.empty() && !given.io.empty() && !odd.empty())
      throw UsageError("--io-sizes " + odd + ": " + name + " reads with O_DIRECT, which needs multiples of " +
                       std::to_string(kDirectAlign));
    if (!odd.empty()) o.notes.push_back("io size " + odd + ": no " + name + " cells (O_DIRECT needs multiples of " +
                                        std::to_string(kDirectAlign) + ")");
  }
}

// Fills o's lists from `given`, and from o.profile as it runs under TCG or not for the rest.
void resolve(Options& o, const Given& given, bool tcg) {
  const Profile& p = profile(o.profile);
  o.min_time = tcg ? p.tcg.min_time : p.min_time;
  o.threaded_methods = p.threaded_methods;
  o.baseline = o.baseline || (p.baseline && given.methods.empty());
  o.latency = given.latency.value_or(p.latency);

  for (const auto& name : given.methods.empty() ? p.methods : split(given.methods)) {
    const MethodInfo* m = find_method(name);
    if (m == nullptr)
      throw UsageError("--methods: unknown method \"" + name + "\"; choose from " + method_list());
    if (std::find(o.methods.begin(), o.methods.end(), m) == o.methods.end()) o.methods.push_back(m);
  }
  if (!given.methods.empty() && o.methods.empty()) throw UsageError("--methods: empty list");
  o.io_sizes = given.io.empty() ? p.io_sizes : sizes("--io-sizes", given.io);
  for (uint64_t io : o.io_sizes)
    if (io > 1 * G) throw UsageError("--io-sizes: " + format_size(io) + " is more than 1G per request");
  o.file_sizes = !given.files.empty() ? sizes("--file-sizes", given.files) : tcg ? p.tcg.file_sizes : p.file_sizes;
  o.file_sizes_given = !given.files.empty();
  if (!o.file_sizes_given) o.cold_file_sizes = p.cold_file_sizes;  // file sizes given: cold cells for each
  o.qds = given.qd.empty() ? p.qds : parse_counts("--qd", given.qd, 4096);
  o.threads = given.threads.empty() ? p.threads : parse_counts("--threads", given.threads, 1024);
  o.threads_given = !given.threads.empty();
  if (given.cache.empty() || given.cache == "both") o.warm = p.warm;
  else if (given.cache == "warm") o.warm = {1};
  else if (given.cache == "cold") o.warm = {0};
  else throw UsageError("--cache: expected warm, cold or both, not \"" + given.cache + "\"");
  if (!given.placement.empty()) {
    try {
      o.placement = parse_placement(given.placement);
    } catch (const Error& e) {
      throw UsageError(std::string("--placement: ") + e.what());
    }
  }

  direct_cells(o, given);

  // Warm cells need the whole file in memory, and tmpfs files live there: keep to half
  // of what is available.
  const uint64_t budget = memory_available() / 2;
  if (budget > 0) {
    std::vector<uint64_t> kept;
    for (uint64_t size : o.file_sizes) {
      if (size <= budget) {
        kept.push_back(size);
      } else if (o.file_sizes_given) {
        throw UsageError("--file-sizes: " + format_size(size) + " is more than half of the " +
                         format_size(budget * 2) + " bytes of available memory");
      } else {
        o.notes.push_back("file size " + format_size(size) + " dropped: more than half of available memory");
      }
    }
    o.file_sizes = kept;
  }
}

// A profile's options as a run with nothing but --profile would have them.
Options profile_options(const Profile& p, bool tcg) {
  Options o;
  o.profile = p.name;
  resolve(o, Given{}, tcg);
  return o;
}

bool applies_threads(const Options& o, const MethodInfo& m, unsigned threads) {
  if (threads == 1 || o.threads_given || o.threaded_methods.empty()) return true;
  return std::find(o.threaded_methods.begin(), o.threaded_methods.end(), m.name) != o.threaded_methods.end();
}

template <class T>
std::string json_list(const std::vector<T>& items) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    if constexpr (std::is_arithmetic_v<T>) out += std::to_string(item);
    else out += json_string(item);
  }
  return out + "]";
}

std::string json_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

}  // namespace

Options parse_options(int& argc, char** argv) {
  Options o;
  Given given;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    if (arg == "--list-methods" || arg == "--list-profiles" || arg == "--show-dir") {
      (arg == "--list-methods" ? o.list_methods : arg == "--list-profiles" ? o.list_profiles : o.show_dir) = true;
      continue;
    }
    if (arg == "--baseline" || arg == "--keep-files") {
      (arg == "--baseline" ? o.baseline : o.keep_files) = true;
      continue;
    }
    if (arg == "--latency" || arg == "--no-latency") {
      given.latency = arg == "--latency";
      continue;
    }
    static const char* own[] = {"--dir", "--profile", "--methods", "--io-sizes", "--file-sizes",
                                "--qd", "--threads", "--cache", "--placement"};
    std::string name, value;
    bool matched = false;
    for (const char* opt : own) {
      const size_t len = std::strlen(opt);
      if (arg == opt) {
        if (i + 1 >= argc) throw UsageError(std::string(opt) + " needs a value");
        name = opt, value = argv[++i], matched = true;
      } else if (arg.compare(0, len, opt) == 0 && arg.size() > len && arg[len] == '=') {
        name = opt, value = arg.substr(len + 1), matched = true;
      }
      if (matched) break;
    }
    if (!matched) {
      argv[out++] = argv[i];
      continue;
    }
    if (value.empty()) throw UsageError(name + " needs a value");
    if (name == "--dir") o.dir = value;
    else if (name == "--profile") o.profile = value;
    else if (name == "--methods") given.methods = value;
    else if (name == "--io-sizes") given.io = value;
    else if (name == "--file-sizes") given.files = value;
    else if (name == "--qd") given.qd = value;
    else if (name == "--threads") given.threads = value;
    else if (name == "--cache") given.cache = value;
    else if (name == "--placement") given.placement = value;
  }
  argc = out;
  argv[argc] = nullptr;
  if (o.help || o.list_methods || o.list_profiles || o.show_dir) return o;

  if (o.keep_files && o.dir.empty())
    throw UsageError("--keep-files needs --dir (the default fresh directory is always removed)");
  resolve(o, given, accel() == "tcg");
  return o;
}

namespace {

bool cold_size(const Options& o, uint64_t file) {
  return o.cold_file_sizes.empty() ||
         std::find(o.cold_file_sizes.begin(), o.cold_file_sizes.end(), file) != o.cold_file_sizes.end();
}

}  // namespace

std::vector<Cell> cells(const Options& o) {
  std::vector<Cell> out;
  for (uint64_t file : o.file_sizes) {
    if (o.baseline) {
      for (uint64_t io : o.io_sizes) {
        if (io > file) continue;
        for (const MethodInfo& m : baselines()) out.push_back({&m, io, file, true, 0, 1});
      }
    }
    for (const MethodInfo* m : o.methods) {
      for (uint64_t io : m->uses_io ? o.io_sizes : std::vector<uint64_t>{page_size()}) {
        if (io > file) continue;
        if (m->direct && io % kDirectAlign != 0) continue;  // O_DIRECT takes whole blocks
        for (unsigned qd : m->uses_qd ? o.qds : std::vector<unsigned>{0})
          for (int warm : o.warm)
            if (!(m->direct && warm) && (warm || cold_size(o, file)))  // O_DIRECT: cold only
            for (unsigned threads : o.threads)
              if (applies_threads(o, *m, threads) && file / threads >= io)
                out.push_back({m, io, file, warm == 1, qd, threads});
      }
    }
  }
  return out;
}

std::string profiles_json() {
  std::string out = "{\"profiles\": [";
  for (const Profile& p : profiles()) {
    const Options native = profile_options(p, false), tcg = profile_options(p, true);
    std::vector<std::string_view> names;
    for (const MethodInfo* m : native.methods) names.push_back(m->name);
    out += &p == &profiles().front() ? "\n" : ",\n";
    out += "{\"name\":" + json_string(p.name) + ",\"summary\":" + json_string(p.summary) +
           ",\"duration\":" + json_string(p.duration) + ",\"rounds\":" + std::to_string(p.rounds) +
           ",\"repetitions\":" + std::to_string(p.repetitions) + ",\"min_time\":" + json_number(native.min_time) +
           ",\"methods\":" + json_list(names) + ",\"io_sizes\":" + json_list(native.io_sizes) +
           ",\"file_sizes\":" + json_list(native.file_sizes) +
           ",\"cold_file_sizes\":" + json_list(native.cold_file_sizes.empty() ? native.file_sizes : native.cold_file_sizes) +
           ",\"qds\":" + json_list(native.qds) +
           ",\"threads\":" + json_list(native.threads) + ",\"baseline\":" + (native.baseline ? "true" : "false") +
           ",\"latency\":" + (native.latency ? "true" : "false") +
           ",\"cells\":" + std::to_string(cells(native).size()) + ",\"tcg\":{\"min_time\":" +
           json_number(tcg.min_time) + ",\"file_sizes\":" + json_list(tcg.file_sizes) +
           ",\"cells\":" + std::to_string(cells(tcg).size()) + "}}";
  }
  return out + "\n]}";
}

std::string usage() {
  auto row = [](std::string_view name, std::string_view text) {
    std::string padded(name);
    padded.resize(std::max<size_t>(padded.size(), 20), ' ');
    return "  " + padded + " " + std::string(text) + "\n";
  };
  std::ostringstream out;
  out << "usage: readpath_bench [readpath options] [Google Benchmark options]\n"
         "\n"
         "Times Linux's read paths (read(2), io_uring, mmap) on files it prepares with\n"
         "known content. Cells are named\n"
         "<method>/io:<bytes>/file:<bytes>/warm:<0|1>[/qd:<n>]/manual_time/threads:<n>.\n"
         "\n"
         "readpath options:\n"
         "  --dir DIR          directory under test (default: a fresh directory, removed\n"
         "                     on exit, under /dev/shm, or where that is not a tmpfs,\n"
         "                     under the first tmpfs of /run/shm, /tmp, /var/tmp, /run;\n"
         "                     --show-dir says which); on a myfs -o synthetic mount\n"
         "                     files are only sized, myfs makes their content; on a myfs\n"
         "                     block mount the image's readpath-<size>.dat are read\n"
         "                     (tools/mkfs.myfs --engine-sizes writes them)\n"
         "  --profile NAME     which cells exist: one of the profiles below (default:\n"
         "                     default)\n"
         "  --methods A,B      methods to run (default: the profile's; list below)\n"
         "  --io-sizes LIST    bytes per request, e.g. 4K,64K,1M\n"
         "  --file-sizes LIST  file sizes, e.g. 1M,256M,1G (capped at half of MemAvailable)\n"
         "  --qd LIST          io_uring queue depths, e.g. 1,32\n"
         "  --threads LIST     reader threads, each on its own region of the file\n"
         "  --cache warm|cold|both   page-cache state before each pass (default both)\n"
         "  --placement P      none, core, smt, cores, packages or numa (default none)\n"
         "  --baseline         add the baseline cells listed below: user-space bounds for\n"
         "                     read(2), and a measure of the machine itself (quick, default\n"
         "                     and full include them unless --methods is given)\n"
         "  --keep-files       leave the prepared files in --dir and print their paths\n"
         "  --latency          run a latency pass too (default: the profile's, see\n"
         "                     --list-profiles): per request latency percentiles, below\n"
         "  --no-latency       no latency pass, whatever the profile says\n"
         "  --list-methods     print every method's traits as a JSON array (name, family,\n"
         "                     uses_qd, uses_io, delivers, keeps_mapping, maps_per_pass,\n"
         "                     direct, ranks_with, timed, request, summary) and exit; each\n"
         "                     result's context carries the same for its methods under\n"
         "                     \"methods\"\n"
         "  --list-profiles    print the profiles as JSON ({\"profiles\": [...]}: name, summary,\n"
         "                     duration, rounds, repetitions, min_time, methods, io_sizes,\n"
         "                     file_sizes, qds, threads, baseline, latency, cells, tcg) and\n"
         "                     exit\n"
         "  --show-dir         print where the files would go as JSON ({\"dir\", \"fs\",\n"
         "                     \"fresh\", \"note\"}: note says why when it is not /dev/shm\n"
         "                     on tmpfs) and exit\n"
         "  -h, --help         this help\n"
         "\n"
         "Methods (one pass = every byte of the thread's region once; --list-methods says\n"
         "exactly what each one's timed region contains):\n";
  for (const auto& m : methods()) out << row(m.name, m.summary);
  out << "Baselines (with --baseline; not readers):\n";
  for (const auto& m : baselines()) out << row(m.name, m.summary);
  out << "\n"
         "Profiles (cells here, and how long `readpath run` takes with them on 2 cores; it\n"
         "runs each cell rounds x repetitions times, readpath_bench alone once unless\n"
         "--benchmark_repetitions=N is given):\n";
  for (const Profile& p : profiles())
    out << row(p.name, std::to_string(cells(profile_options(p, false)).size()) + " cells, " + p.duration)
        << std::string(23, ' ') << p.summary << "\n";
  out << "\n"
         "Each repetition of a cell first makes its cache state (cold: evicted with\n"
         "POSIX_FADV_DONTNEED and checked with mincore; cells skip where that cannot work,\n"
         "e.g. tmpfs), then runs one untimed witness pass in it whose every byte is checked\n"
         "against the known content, then the timed passes. Cold cells evict again before\n"
         "each timed pass, outside the measured time. O_DIRECT methods (pread_direct,\n"
         "uring_direct) have cold cells only, at io sizes that are multiples of 4096, and\n"
         "evict nothing: the page cache is not in their way; they skip where the filesystem\n"
         "refuses O_DIRECT and on tmpfs. Every cell is timed by hand\n"
         "(manual_time): with several threads, all start each pass together and the pass\n"
         "takes from the first start to the last end; bytes_per_second is all threads'\n"
         "bytes over that.\n"
         "\n"
         "Counters per pass over a thread's region: minflt, majflt, ctxsw (timed passes);\n"
         "items_per_second counts requests. On myfs, myfs_<hook> from\n"
         "/sys/fs/myfs/<dev>/stats: the hook calls of the witness pass, counted with\n"
         "counting on; the timed passes run with counting off (a remount with\n"
         "counters=off; context key myfs_timed_counting says whether it was). On a block\n"
         "device, dev_reads, dev_read_merges, dev_read_kib, dev_read_avg_kib, dev_read_ms\n"
         "from its /sys/block/.../stat over that same pass (context block_device,\n"
         "block_scheduler, block_model, read_ahead_kb say which device). The label\n"
         "says where each thread was seen running (t0 cpus 0 ran 0; ...) and what the\n"
         "reader set up.\n"
         "\n"
         "With a latency pass (--latency), each repetition of a cell also runs one untimed\n"
         "pass like the timed ones, in the same cache state (cold cells evict before it) and\n"
         "with myfs counting off, that times each request on its own (--list-methods says\n"
         "what a request is for each method) into a log-linear histogram, all threads\n"
         "merged: counters lat_count, lat_p50_ns, lat_p90_ns, lat_p99_ns, lat_p999_ns,\n"
         "lat_max_ns, lat_mean_ns; context latency_timer_ns is what one clock reading costs\n"
         "(in every latency, not subtracted). With --benchmark_out=FILE the histograms go\n"
         "to FILE.latency.json, written at the end.\n"
         "\n"
         "Useful Google Benchmark options: --benchmark_list_tests, --benchmark_filter=REGEX,\n"
         "--benchmark_out=FILE --benchmark_out_format=json, --benchmark_repetitions=N,\n"
         "--benchmark_min_time=SECONDS (default: the profile's). READPATH_ACCEL=tcg picks the\n"
         "profile's variant for slow emulated guests: a shorter minimum time, files of at most 16M.\n"
         "\n"
         "Exit status: 0 ran (skipped cells say why in their error_message), 1 failed,\n"
         "2 bad usage or a bad --dir.\n";
  return out.str();
}

void check_dir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0)
    throw UsageError("--dir " + dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw UsageError("--dir " + dir + ": not a directory");
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
    throw UsageError("--dir " + dir + ": read-only filesystem; readpath_bench creates files there");
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    throw UsageError("--dir " + dir + ": not writable (" + std::strerror(errno) + ")");
}

}  // namespace readpath
