// The guest side of instruction counting, on a host: markers are no-ops, and without the
// QEMU plugin a report fails instead of reading zeros.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "error.hpp"
#include "icount.hpp"

namespace readpath {
namespace {

TEST(Icount, ParsesThePluginsLine) {
  const InstructionCount c = parse_icount_line("kernel 5708 user 47 brackets 3 vcpu 1");
  EXPECT_EQ(c.kernel, 5708u);
  EXPECT_EQ(c.user, 47u);
  EXPECT_EQ(c.brackets, 3u);
}

TEST(Icount, RefusesAnyOtherLine) {
  EXPECT_THROW(parse_icount_line(""), Error);
  EXPECT_THROW(parse_icount_line("kernel 1 user x brackets 1"), Error);
  EXPECT_THROW(parse_icount_line("user 1 kernel 2 brackets 1"), Error);
}

TEST(Icount, MarkersAreNoOpsAndAReportWithoutThePluginFails) {
  icount_begin();
  icount_end();
  const std::string path = std::string(READPATH_TEST_SCRATCH) + "/icount-answer";
  std::ofstream(path) << "kernel 1 user 1 brackets 1 vcpu 0\n";  // an old answer is never read
  EXPECT_THROW(InstructionCounter(path).report(), Error);
}

TEST(Icount, OffWithoutTheEnvironmentVariable) {
  unsetenv("READPATH_ICOUNT");
  EXPECT_FALSE(InstructionCounter::from_environment());
  setenv("READPATH_ICOUNT", "", 1);
  EXPECT_FALSE(InstructionCounter::from_environment());
  unsetenv("READPATH_ICOUNT");
}

}  // namespace
}  // namespace readpath
