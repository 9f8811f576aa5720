// readpath_bench's options: bad input is a UsageError with a message; the profiles, and
// the cells they make.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "environment.hpp"
#include "error.hpp"
#include "options.hpp"

namespace readpath {
namespace {

Options parse(std::initializer_list<const char*> args, std::vector<std::string>* rest = nullptr) {
  std::vector<std::string> storage = {"readpath_bench"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(storage.size());
  Options o = parse_options(argc, argv.data());
  if (rest)
    for (int i = 1; i < argc; ++i) rest->push_back(argv[i]);
  return o;
}

std::string usage_error(std::initializer_list<const char*> args) {
  try {
    parse(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Sizes, SuffixesAreBinary) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("4K"), 4096u);
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("64k"), 65536u);
  EXPECT_EQ(parse_size("1M"), 1u << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(format_size(1u << 20), "1M");
  EXPECT_EQ(format_size(1000), "1000");
}

TEST(Sizes, BadSizesAreRejected) {
  for (const char* bad : {"", "K", "-4K", "4X", "0", "1.5M", "99999999999999999999G"})
    EXPECT_THROW(parse_size(bad), Error) << bad;
}

TEST(Options, OwnOptionsAreRemovedAndBenchmarkOnesKept) {
  std::vector<std::string> rest;
  const Options o = parse({"--profile", "tiny", "--benchmark_filter=read", "--methods=read,uring", "--qd", "4"}, &rest);
  EXPECT_EQ(o.profile, "tiny");
  ASSERT_EQ(o.methods.size(), 2u);
  EXPECT_EQ(o.methods[1]->name, "uring");
  EXPECT_EQ(o.qds, std::vector<unsigned>{4});
  EXPECT_EQ(rest, std::vector<std::string>{"--benchmark_filter=read"});
}

// READPATH_ACCEL set to `value` for as long as it lives, as it was again after.
class Accel {
 public:
  explicit Accel(const char* value) {
    if (const char* old = getenv("READPATH_ACCEL")) old_ = old;
    setenv("READPATH_ACCEL", value, 1);
  }
  ~Accel() {
    if (old_) setenv("READPATH_ACCEL", old_->c_str(), 1);
    else unsetenv("READPATH_ACCEL");
  }

 private:
  std::optional<std::string> old_;
};

// The number of cells of a profile run with nothing else given, under accelerator `accel`.
size_t cell_count(const std::string& name, const char* accel) {
  const Accel set(accel);
  return cells(parse({"--profile", name.c_str()})).size();
}

TEST(Profiles, ComeInOrderOfSize) {
  std::vector<std::string> names;
  for (const Profile& p : profiles()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"tiny", "quick", "default", "full"}));
  size_t previous = 0;
  for (const Profile& p : profiles()) {
    const size_t n = cell_count(p.name, "host");
    EXPECT_GT(n, previous) << p.name;
    previous = n;
  }
}

TEST(Profiles, SayEverythingARunNeeds) {
  for (const Profile& p : profiles()) {
    EXPECT_FALSE(p.summary.empty()) << p.name;
    EXPECT_FALSE(p.duration.empty()) << p.name;
    EXPECT_GE(p.rounds, 1u) << p.name;
    EXPECT_GE(p.repetitions, 1u) << p.name;
    EXPECT_GT(p.min_time, 0) << p.name;
    EXPECT_GT(p.tcg.min_time, 0) << p.name;
    EXPECT_LT(p.tcg.min_time, p.min_time) << p.name;
    EXPECT_FALSE(p.methods.empty()) << p.name;
    for (const auto& m : p.methods) EXPECT_NE(find_method(m), nullptr) << p.name << ": " << m;
  }
  EXPECT_THROW(profile("huge"), UsageError);
}

// TCG reads the page cache at ~200 MB/s: its variants keep to files of at most 16M.
TEST(Profiles, UnderTcgRunTheirSmallFilesAndShortMinimumTime) {
  const Accel tcg("tcg");
  for (const Profile& p : profiles()) {
    const Options o = parse({"--profile", p.name.c_str()});
    EXPECT_EQ(o.file_sizes, p.tcg.file_sizes) << p.name;
    EXPECT_EQ(o.min_time, p.tcg.min_time) << p.name;
    for (uint64_t size : o.file_sizes) EXPECT_LE(size, 16u << 20) << p.name;
  }
  EXPECT_EQ(parse({"--profile", "default"}).file_sizes, (std::vector<uint64_t>{1 << 20, 16 << 20}));
  EXPECT_EQ(parse({"--profile", "quick", "--file-sizes", "1M"}).file_sizes, std::vector<uint64_t>{1 << 20});
}

TEST(Profiles, OnTheHostRunTheirOwnSizes) {
  const Accel host("host");
  const Options o = parse({"--profile", "quick"});
  EXPECT_EQ(o.file_sizes, profile("quick").file_sizes);
  EXPECT_EQ(o.min_time, profile("quick").min_time);
}

TEST(Cells, TinyHasOneCellPerMethodSizeDepthAndCacheState) {
  // read, pread, mmap_copy: 2 io sizes x 2 cache states; uring, uring_fixed: also x 2 queue
  // depths; mmap_touch, mmap_populate: one page per request, x 2 cache states;
  // pread_direct and uring_direct: cold only.
  EXPECT_EQ(cell_count("tiny", "host"), 3u * 4 + 2 * 8 + 2 * 2 + 2 + 4);
}

TEST(Cells, ODirectMethodsAreColdAndInWholeBlocks) {
  const auto all = cells(parse({"--methods", "read,pread_direct,uring_direct", "--io-sizes", "4K,64K",
                                "--file-sizes", "1M", "--qd", "1"}));
  size_t direct = 0;
  for (const Cell& c : all) {
    if (!c.method->direct) continue;
    ++direct;
    EXPECT_FALSE(c.warm) << c.method->name;
    EXPECT_EQ(c.io % kDirectAlign, 0u) << c.method->name;
  }
  EXPECT_EQ(direct, 4u);             // 2 methods x 2 io sizes, cold
  EXPECT_EQ(all.size() - direct, 4u);  // read: warm and cold
  // The profile's direct methods lose the io sizes off the grain, with a note.
  const Options odd = parse({"--profile", "quick", "--io-sizes", "6K,64K", "--file-sizes", "1M"});
  for (const Cell& c : cells(odd)) EXPECT_FALSE(c.method->direct && c.io == 6144) << c.method->name;
  EXPECT_TRUE(std::any_of(odd.notes.begin(), odd.notes.end(),
                          [](const std::string& n) { return n.find("no pread_direct cells") != std::string::npos; }));
}

TEST(Options, ODirectMethodsNamedWithNothingToRunAreUsageErrors) {
  EXPECT_NE(usage_error({"--methods", "pread_direct", "--io-sizes", "4K,6K"}).find("--io-sizes 6K"),
            std::string::npos);
  EXPECT_NE(usage_error({"--methods", "uring_direct", "--cache", "warm"}).find("only cold cells"),
            std::string::npos);
  EXPECT_NO_THROW(parse({"--methods", "read", "--io-sizes", "6K"}));
}

TEST(Cells, OnlyThreadedMethodsGetSeveralThreads) {
  for (const Cell& c : cells(parse({"--profile", "default", "--file-sizes", "1M"}))) {
    if (c.threads > 1) {
      EXPECT_TRUE(c.method->name == "pread" || c.method->name == "uring") << c.method->name;
      EXPECT_GE(c.file / c.threads, c.io);
    }
  }
  const auto given = cells(parse({"--profile", "default", "--file-sizes", "1M", "--threads", "2"}));
  EXPECT_TRUE(std::all_of(given.begin(), given.end(), [](const Cell& c) { return c.threads == 2 || c.method->family == Family::baseline; }));
}

TEST(Cells, NoRequestIsLargerThanItsFile) {
  for (const Cell& c : cells(parse({"--profile", "default", "--file-sizes", "1M"}))) EXPECT_LE(c.io, c.file);
}

TEST(Cells, BaselinesComeFirstForEachFileSize) {
  const auto all = cells(parse({"--profile", "quick", "--file-sizes", "1M,4M"}));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().method->family, Family::baseline);
  EXPECT_EQ(all.front().file, 1u << 20);
  EXPECT_TRUE(all.front().warm);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](const Cell& a, const Cell& b) { return a.file < b.file; }));
}

TEST(Options, BadInputSaysWhatIsWrong) {
  EXPECT_NE(usage_error({"--profile", "huge"}).find("unknown profile \"huge\""), std::string::npos);
  EXPECT_NE(usage_error({"--methods", "read,sendfile"}).find("unknown method \"sendfile\""), std::string::npos);
  EXPECT_NE(usage_error({"--io-sizes", "4Q"}).find("--io-sizes"), std::string::npos);
  EXPECT_NE(usage_error({"--file-sizes", "0"}).find("--file-sizes"), std::string::npos);
  EXPECT_NE(usage_error({"--threads", "0"}).find("--threads"), std::string::npos);
  EXPECT_NE(usage_error({"--cache", "lukewarm"}).find("--cache"), std::string::npos);
  EXPECT_NE(usage_error({"--placement", "socket"}).find("--placement"), std::string::npos);
  EXPECT_NE(usage_error({"--dir"}).find("needs a value"), std::string::npos);
  EXPECT_NE(usage_error({"--file-sizes", "100000G"}).find("available memory"), std::string::npos);
}

TEST(Options, LatencyPassFollowsTheProfileUnlessGiven) {
  for (const Profile& p : profiles()) {
    EXPECT_EQ(parse({"--profile", p.name.c_str()}).latency, p.latency) << p.name;
    EXPECT_TRUE(parse({"--profile", p.name.c_str(), "--latency"}).latency) << p.name;
    EXPECT_FALSE(parse({"--profile", p.name.c_str(), "--no-latency"}).latency) << p.name;
  }
  EXPECT_TRUE(parse({"--no-latency", "--latency"}).latency);  // the last one given
  std::vector<std::string> rest;
  parse({"--latency", "--benchmark_repetitions=2"}, &rest);
  EXPECT_EQ(rest, std::vector<std::string>{"--benchmark_repetitions=2"});
}

TEST(Options, ListMethodsNeedsNothingElse) {
  const Options o = parse({"--list-methods", "--dir", "/no/such/dir"});
  EXPECT_TRUE(o.list_methods);
}

TEST(Options, ListProfilesNeedsNothingElse) {
  const Options o = parse({"--list-profiles", "--profile", "huge"});
  EXPECT_TRUE(o.list_profiles);
}

// Counts and order only: bench_cli_test parses the JSON and holds each count against the
// cells --benchmark_list_tests lists.
TEST(ProfilesJson, HasEveryProfileWithItsCellCounts) {
  const std::string json = profiles_json();
  EXPECT_EQ(json.rfind("{\"profiles\": [", 0), 0u) << json;
  size_t at = 0;
  for (const Profile& p : profiles()) {
    const size_t native = cell_count(p.name, "host"), tcg_cells = cell_count(p.name, "tcg");
    at = json.find("{\"name\":\"" + p.name + "\"", at);
    ASSERT_NE(at, std::string::npos) << p.name;
    const size_t end = json.find('\n', at);
    const std::string line = json.substr(at, end - at);
    EXPECT_NE(line.find("\"cells\":" + std::to_string(native) + ","), std::string::npos) << line;
    EXPECT_NE(line.find("\"tcg\":{"), std::string::npos) << line;
    EXPECT_NE(line.find(std::string("\"latency\":") + (p.latency ? "true," : "false,")), std::string::npos) << line;
    EXPECT_NE(line.find("\"cells\":" + std::to_string(tcg_cells) + "}}"), std::string::npos) << line;
  }
}

TEST(Options, HelpListsEveryMethodAndBaseline) {
  const std::string help = usage();
  for (const auto& m : methods()) EXPECT_NE(help.find("\n  " + std::string(m.name) + " "), std::string::npos) << m.name;
  for (const auto& m : baselines()) EXPECT_NE(help.find("\n  " + std::string(m.name) + " "), std::string::npos) << m.name;
  EXPECT_NE(help.find("/manual_time/threads:<n>"), std::string::npos);
  EXPECT_NE(help.find("--list-methods"), std::string::npos);
  EXPECT_NE(help.find("--list-profiles"), std::string::npos);
}

TEST(Options, HelpListsEveryProfileWithItsCellsAndDuration) {
  const std::string help = usage();
  for (const Profile& p : profiles()) {
    const std::string cells_here = std::to_string(cell_count(p.name, "host"));
    std::string name = p.name;
    name.resize(20, ' ');
    EXPECT_NE(help.find("\n  " + name + " " + cells_here + " cells, " + p.duration + "\n"), std::string::npos)
        << p.name << " in " << help;
  }
}

TEST(Options, DirectoryChecks) {
  EXPECT_THROW(check_dir("/no/such/dir"), UsageError);
  EXPECT_THROW(check_dir("/proc/self/status"), UsageError);
  EXPECT_NO_THROW(check_dir(READPATH_TEST_SCRATCH));
}

}  // namespace
}  // namespace readpath
