// readpath_bench's own command line and its profiles: which cells exist.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "placement.hpp"
#include "reader.hpp"

namespace readpath {

// Bad usage: readpath_bench prints the message and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A profile: which cells exist, and how `readpath run` repeats them. The one table of them
// is here; readpath reads it through --list-profiles.
struct Profile {
  std::string name;
  std::string summary;   // one line
  std::string duration;  // how long `readpath run` with this profile takes on a 2-core host
  // readpath run's repetitions: rounds over every chunk, each running every cell
  // `repetitions` times. readpath_bench alone runs each cell once (Google Benchmark's
  // default) unless --benchmark_repetitions says otherwise.
  unsigned rounds = 1;
  unsigned repetitions = 1;
  std::vector<std::string> methods;
  std::vector<uint64_t> io_sizes;
  std::vector<uint64_t> file_sizes;
  std::vector<unsigned> qds;
  std::vector<unsigned> threads;
  std::vector<int> warm;          // 1 warm, 0 cold
  // The file sizes that get cold cells (empty: all of them). A cold pass reads the file
  // from the device: at 256M that is a second or more a pass, too long for many rounds.
  std::vector<uint64_t> cold_file_sizes = {};
  double min_time = 0.1;          // seconds per cell on host/kvm
  std::vector<std::string> threaded_methods = {};  // only these get threads > 1 (empty: all)
  // The memcpy baseline cells run too: user space only, they show how much the machine
  // itself moved between runs (readpath compare sets a run's changes beside theirs).
  bool baseline = false;
  // Each cell also runs a latency pass per repetition (untimed: each request timed on its
  // own, into a histogram; --latency and --no-latency override it).
  bool latency = false;
  // Under TCG (READPATH_ACCEL=tcg) everything runs ~50x slower and the page cache reads at
  // ~200 MB/s: a shorter minimum time, and files of at most 16M.
  struct {
    double min_time = 0.01;
    std::vector<uint64_t> file_sizes;
  } tcg;
};

// tiny, quick, default, full: in this order.
const std::vector<Profile>& profiles();
// Throws UsageError for an unknown name.
const Profile& profile(const std::string& name);

struct Options {
  std::string dir;         // empty: a fresh directory under default_scratch_parent()
  std::string profile = "default";
  std::vector<const MethodInfo*> methods;
  std::vector<uint64_t> io_sizes;
  std::vector<uint64_t> file_sizes;
  std::vector<unsigned> qds;
  std::vector<unsigned> threads;
  std::vector<int> warm;
  std::vector<uint64_t> cold_file_sizes;  // the file sizes with cold cells (empty: all)
  Placement placement = Placement::none;
  double min_time = 0;     // the profile's, for the current accelerator
  bool file_sizes_given = false;
  bool threads_given = false;
  bool help = false;
  bool list_methods = false;   // print the method table as JSON and exit
  bool list_profiles = false;  // print the profile table as JSON and exit
  bool show_dir = false;       // print where files would go as JSON and exit
  bool baseline = false;    // also register memcpy/... cells: user-space copy bandwidth
  bool keep_files = false;  // leave prepared files in --dir (readpath calibrate reads them with fio)
  bool latency = false;     // a latency pass per cell and repetition (the profile's, or --[no-]latency)
  std::vector<std::string> threaded_methods;
  std::vector<std::string> notes;  // things the user should know (dropped sizes)
};

// Parses and removes readpath's own options from argv, leaving Google Benchmark's (and
// anything unknown, which the caller reports). Applies the profile's defaults for lists
// not given. Throws UsageError with a one-line message.
Options parse_options(int& argc, char** argv);

// One cell: a method (or a baseline) × io size × file size × cache state [× queue depth]
// × threads. Baselines run warm, on one thread, with qd 0.
struct Cell {
  const MethodInfo* method;
  uint64_t io;
  uint64_t file;
  bool warm;
  unsigned qd;       // 0 where the method takes none
  unsigned threads;
};

// Every cell of o in the order readpath_bench registers them: file size by file size, the
// baselines first.
std::vector<Cell> cells(const Options& o);

// The profiles as JSON, {"profiles": [...]} in profiles() order, one per line: name,
// summary, duration, rounds, repetitions, min_time, methods, io_sizes, file_sizes, qds,
// threads, baseline, latency, cells, and tcg {min_time, file_sizes, cells}: the lists and counts as a
// run here would have them (file sizes over half of the available memory dropped).
std::string profiles_json();

// Checks that dir exists, is a directory and is writable; throws UsageError otherwise.
void check_dir(const std::string& dir);

std::string usage();

}  // namespace readpath
