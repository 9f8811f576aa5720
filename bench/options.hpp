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

struct Profile {
  std::string name;
  std::vector<std::string> methods;
  std::vector<uint64_t> io_sizes;
  std::vector<uint64_t> file_sizes;
  std::vector<unsigned> qds;
  std::vector<unsigned> threads;
  std::vector<int> warm;          // 1 warm, 0 cold
  double min_time = 0.1;          // seconds per cell on host/kvm
  double min_time_tcg = 0.01;     // under TCG, where everything is ~50x slower
  std::vector<std::string> threaded_methods;  // only these get threads > 1
  // The memcpy baseline cells run too: user space only, they show how much the machine
  // itself moved between runs (readpath compare sets a run's changes beside theirs).
  bool baseline = false;
};

const std::vector<std::string>& profile_names();
// Throws UsageError for an unknown name.
Profile profile(const std::string& name);

struct Options {
  std::string dir;         // empty: a fresh directory under /dev/shm
  std::string profile = "default";
  std::vector<const MethodInfo*> methods;
  std::vector<uint64_t> io_sizes;
  std::vector<uint64_t> file_sizes;
  std::vector<unsigned> qds;
  std::vector<unsigned> threads;
  std::vector<int> warm;
  Placement placement = Placement::none;
  double min_time = 0;     // the profile's, for the current accelerator
  bool file_sizes_given = false;
  bool threads_given = false;
  bool help = false;
  bool list_methods = false;  // print the method table as JSON and exit
  bool baseline = false;    // also register memcpy/... cells: user-space copy bandwidth
  bool keep_files = false;  // leave prepared files in --dir (readpath calibrate reads them with fio)
  std::vector<std::string> threaded_methods;
  std::vector<std::string> notes;  // things the user should know (dropped sizes)
};

// Parses and removes readpath's own options from argv, leaving Google Benchmark's (and
// anything unknown, which the caller reports). Applies the profile's defaults for lists
// not given. Throws UsageError with a one-line message.
Options parse_options(int& argc, char** argv);

// Checks that dir exists, is a directory and is writable; throws UsageError otherwise.
void check_dir(const std::string& dir);

std::string usage();

}  // namespace readpath
