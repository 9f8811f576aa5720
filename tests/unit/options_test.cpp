// readpath_bench's options: bad input is a UsageError with a message, profiles exist.
#include <gtest/gtest.h>

#include <initializer_list>
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

TEST(Options, ProfilesAllExist) {
  for (const auto& name : profile_names()) {
    const Profile p = profile(name);
    EXPECT_FALSE(p.methods.empty()) << name;
    for (const auto& m : p.methods) EXPECT_NE(find_method(m), nullptr) << name << ": " << m;
  }
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

TEST(Options, ListMethodsNeedsNothingElse) {
  const Options o = parse({"--list-methods", "--dir", "/no/such/dir"});
  EXPECT_TRUE(o.list_methods);
}

TEST(Options, HelpListsEveryMethodAndBaseline) {
  const std::string help = usage();
  for (const auto& m : methods()) EXPECT_NE(help.find("\n  " + std::string(m.name) + " "), std::string::npos) << m.name;
  for (const auto& m : baselines()) EXPECT_NE(help.find("\n  " + std::string(m.name) + " "), std::string::npos) << m.name;
  EXPECT_NE(help.find("/manual_time/threads:<n>"), std::string::npos);
  EXPECT_NE(help.find("--list-methods"), std::string::npos);
}

TEST(Options, DirectoryChecks) {
  EXPECT_THROW(check_dir("/no/such/dir"), UsageError);
  EXPECT_THROW(check_dir("/proc/self/status"), UsageError);
  EXPECT_NO_THROW(check_dir(READPATH_TEST_SCRATCH));
}

}  // namespace
}  // namespace readpath
