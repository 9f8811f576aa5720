// Options and profiles of readpath_bench.
#include "options.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

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

std::string method_list() {
  std::string all;
  for (const auto& m : methods()) all.append(all.empty() ? "" : ", ").append(m.name);
  return all;
}

}  // namespace

const std::vector<std::string>& profile_names() {
  static const std::vector<std::string> names = {"tiny", "quick", "default", "full"};
  return names;
}

Profile profile(const std::string& name) {
  Profile p;
  p.name = name;
  if (name == "tiny") {  // seconds: CI smoke and guest tests under TCG
    p.methods = {"read", "pread", "uring", "uring_fixed", "mmap_copy", "mmap_touch", "mmap_populate"};
    p.io_sizes = {4 * K, 64 * K};
    p.file_sizes = {1 * M};
    p.qds = {1, 8};
    p.threads = {1};
    p.warm = {1, 0};
    p.min_time = 0.01;
    p.min_time_tcg = 0.002;
  } else if (name == "quick") {  // about two minutes on a small host
    p.methods = {"read", "pread", "pread_rand", "uring", "uring_fixed", "mmap_copy", "mmap_touch", "mmap_populate"};
    p.io_sizes = {4 * K, 64 * K, 1 * M};
    p.file_sizes = {16 * M, 256 * M};
    p.qds = {1, 32};
    p.threads = {1};
    p.warm = {1, 0};
    p.min_time = 0.25;
    p.min_time_tcg = 0.005;
    p.baseline = true;
  } else if (name == "default") {
    p.methods = {"read", "pread", "pread_rand", "preadv2_nowait", "uring", "uring_fixed",
                 "uring_sqpoll", "mmap_copy", "mmap_touch", "mmap_populate", "mmap_populate_read"};
    p.io_sizes = {4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M};
    p.file_sizes = {1 * M, 16 * M, 256 * M, 1 * G};
    p.qds = {1, 32};
    p.threads = {1, 2};
    p.threaded_methods = {"pread", "uring"};
    p.warm = {1, 0};
    p.min_time = 0.2;
    p.min_time_tcg = 0.01;
    p.baseline = true;
  } else if (name == "full") {
    for (const auto& m : methods()) p.methods.emplace_back(m.name);
    p.io_sizes = {4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M};
    p.file_sizes = {1 * M, 16 * M, 256 * M, 1 * G};
    p.qds = {1, 4, 16, 32, 128};
    const unsigned cpus = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    for (unsigned t = 1; t <= cpus; t *= 2) p.threads.push_back(t);
    p.warm = {1, 0};
    p.min_time = 0.5;
    p.min_time_tcg = 0.02;
    p.baseline = true;
  } else {
    std::string all;
    for (const auto& n : profile_names()) all.append(all.empty() ? "" : ", ").append(n);
    throw UsageError("--profile: unknown profile \"" + name + "\"; choose one of " + all);
  }
  return p;
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
         "  --dir DIR          directory under test (default: a fresh directory under\n"
         "                     /dev/shm, removed on exit); on a myfs -o synthetic mount\n"
         "                     files are only sized, myfs makes their content\n"
         "  --profile NAME     which cells exist: tiny (seconds), quick (~2 min),\n"
         "                     default (~13 min), full (everything)  [default]\n"
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
         "  --list-methods     print every method's traits as a JSON array (name, family,\n"
         "                     uses_qd, uses_io, delivers, keeps_mapping, maps_per_pass,\n"
         "                     ranks_with, timed, summary) and exit; each result's context\n"
         "                     carries the same for its methods under \"methods\"\n"
         "  -h, --help         this help\n"
         "\n"
         "Methods (one pass = every byte of the thread's region once; --list-methods says\n"
         "exactly what each one's timed region contains):\n";
  for (const auto& m : methods()) out << row(m.name, m.summary);
  out << "Baselines (with --baseline; not readers):\n";
  for (const auto& m : baselines()) out << row(m.name, m.summary);
  out << "\n"
         "Each repetition of a cell first makes its cache state (cold: evicted with\n"
         "POSIX_FADV_DONTNEED and checked with mincore; cells skip where that cannot work,\n"
         "e.g. tmpfs), then runs one untimed witness pass in it whose every byte is checked\n"
         "against the known content, then the timed passes. Cold cells evict again before\n"
         "each timed pass, outside the measured time. Every cell is timed by hand\n"
         "(manual_time): with several threads, all start each pass together and the pass\n"
         "takes from the first start to the last end; bytes_per_second is all threads'\n"
         "bytes over that.\n"
         "\n"
         "Counters per pass over a thread's region: minflt, majflt, ctxsw (timed passes);\n"
         "items_per_second counts requests. On myfs, myfs_<hook> from\n"
         "/sys/fs/myfs/<dev>/stats: the hook calls of the witness pass, counted with\n"
         "counting on; the timed passes run with counting off (a remount with\n"
         "counters=off; context key myfs_timed_counting says whether it was). The label\n"
         "says where each thread was seen running (t0 cpus 0 ran 0; ...) and what the\n"
         "reader set up.\n"
         "\n"
         "Useful Google Benchmark options: --benchmark_list_tests, --benchmark_filter=REGEX,\n"
         "--benchmark_out=FILE --benchmark_out_format=json, --benchmark_repetitions=N,\n"
         "--benchmark_min_time=SECONDS (default: the profile's). READPATH_ACCEL=tcg shortens\n"
         "the profile's minimum time for slow emulated guests.\n"
         "\n"
         "Exit status: 0 ran (skipped cells say why in their error_message), 1 failed,\n"
         "2 bad usage or a bad --dir.\n";
  return out.str();
}

Options parse_options(int& argc, char** argv) {
  Options o;
  std::string methods_text, io_text, files_text, qd_text, threads_text, cache_text, placement_text;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    if (arg == "--list-methods") {
      o.list_methods = true;
      continue;
    }
    if (arg == "--baseline" || arg == "--keep-files") {
      (arg == "--baseline" ? o.baseline : o.keep_files) = true;
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
    else if (name == "--methods") methods_text = value;
    else if (name == "--io-sizes") io_text = value;
    else if (name == "--file-sizes") files_text = value;
    else if (name == "--qd") qd_text = value;
    else if (name == "--threads") threads_text = value;
    else if (name == "--cache") cache_text = value;
    else if (name == "--placement") placement_text = value;
  }
  argc = out;
  argv[argc] = nullptr;
  if (o.help || o.list_methods) return o;

  if (o.keep_files && o.dir.empty())
    throw UsageError("--keep-files needs --dir (the default fresh directory is always removed)");
  const Profile p = profile(o.profile);
  o.min_time = accel() == "tcg" ? p.min_time_tcg : p.min_time;
  o.threaded_methods = p.threaded_methods;
  o.baseline = o.baseline || (p.baseline && methods_text.empty());

  for (const auto& name : methods_text.empty() ? p.methods : split(methods_text)) {
    const MethodInfo* m = find_method(name);
    if (m == nullptr)
      throw UsageError("--methods: unknown method \"" + name + "\"; choose from " + method_list());
    if (std::find(o.methods.begin(), o.methods.end(), m) == o.methods.end()) o.methods.push_back(m);
  }
  if (!methods_text.empty() && o.methods.empty()) throw UsageError("--methods: empty list");
  o.io_sizes = io_text.empty() ? p.io_sizes : sizes("--io-sizes", io_text);
  for (uint64_t io : o.io_sizes)
    if (io > 1 * G) throw UsageError("--io-sizes: " + format_size(io) + " is more than 1G per request");
  o.file_sizes = files_text.empty() ? p.file_sizes : sizes("--file-sizes", files_text);
  o.file_sizes_given = !files_text.empty();
  o.qds = qd_text.empty() ? p.qds : parse_counts("--qd", qd_text, 4096);
  o.threads = threads_text.empty() ? p.threads : parse_counts("--threads", threads_text, 1024);
  o.threads_given = !threads_text.empty();
  if (cache_text.empty() || cache_text == "both") o.warm = p.warm;
  else if (cache_text == "warm") o.warm = {1};
  else if (cache_text == "cold") o.warm = {0};
  else throw UsageError("--cache: expected warm, cold or both, not \"" + cache_text + "\"");
  if (!placement_text.empty()) {
    try {
      o.placement = parse_placement(placement_text);
    } catch (const Error& e) {
      throw UsageError(std::string("--placement: ") + e.what());
    }
  }

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
  return o;
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
