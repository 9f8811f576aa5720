// The optional io_uring setup flags: only what the kernel refuses is dropped. The kernel
// is played by a predicate, so every refusal pattern can be tried on any machine.
#include <gtest/gtest.h>
#include <liburing.h>

#include <cerrno>
#include <vector>

#include "uring_setup.hpp"

namespace readpath {
namespace {

constexpr unsigned kCoop = IORING_SETUP_COOP_TASKRUN, kSingle = IORING_SETUP_SINGLE_ISSUER,
                   kDefer = IORING_SETUP_DEFER_TASKRUN;

// A kernel that refuses (EINVAL) any set of optional flags containing one of `refused`,
// and records what it was asked.
struct FakeKernel {
  explicit FakeKernel(unsigned refused_flags = 0) : refused(refused_flags) {}
  unsigned refused;
  std::vector<unsigned> asked;
  int operator()(unsigned flags) {
    asked.push_back(flags);
    return (flags & refused) ? -EINVAL : 0;
  }
};

SetupAttempt run(const std::vector<unsigned>& optional, FakeKernel& kernel) {
  return setup_with_optional_flags(optional, [&](unsigned flags) { return kernel(flags); });
}

TEST(OptionalSetupFlags, AKernelThatTakesAllKeepsAll) {
  FakeKernel kernel;
  const SetupAttempt a = run({kCoop, kSingle}, kernel);
  EXPECT_EQ(a.result, 0);
  EXPECT_EQ(a.used, kCoop | kSingle);
  EXPECT_EQ(a.refused, 0u);
  EXPECT_EQ(kernel.asked, std::vector<unsigned>{kCoop | kSingle});
}

// 6.1 refuses COOP_TASKRUN beside SQPOLL: SINGLE_ISSUER must survive it.
TEST(OptionalSetupFlags, DropsOnlyTheRefusedFlag) {
  FakeKernel kernel(kCoop);
  const SetupAttempt a = run({kCoop, kSingle}, kernel);
  EXPECT_EQ(a.result, 0);
  EXPECT_EQ(a.used, kSingle);
  EXPECT_EQ(a.refused, kCoop);
  EXPECT_EQ(kernel.asked, (std::vector<unsigned>{kCoop | kSingle, kCoop, kSingle}));
}

TEST(OptionalSetupFlags, TriesLargerSubsetsFirstThenEarlierListedFlags) {
  FakeKernel kernel(kCoop | kSingle | kDefer);
  const SetupAttempt a = run({kCoop, kSingle, kDefer}, kernel);
  EXPECT_EQ(kernel.asked, (std::vector<unsigned>{kCoop | kSingle | kDefer, kCoop | kSingle, kCoop | kDefer,
                                                 kSingle | kDefer, kCoop, kSingle, kDefer, 0u}));
  EXPECT_EQ(a.result, 0);
  EXPECT_EQ(a.used, 0u);
  EXPECT_EQ(a.refused, kCoop | kSingle | kDefer);
}

TEST(OptionalSetupFlags, AnEinvalForTheRequiredFlagsIsReportedAfterTheLastSubset) {
  const SetupAttempt a = setup_with_optional_flags({kCoop, kSingle}, [](unsigned) { return -EINVAL; });
  EXPECT_EQ(a.result, -EINVAL);
  EXPECT_EQ(a.used, 0u);
}

TEST(OptionalSetupFlags, OtherErrorsEndTheSearch) {
  int calls = 0;
  const SetupAttempt a = setup_with_optional_flags({kCoop, kSingle}, [&](unsigned) { return ++calls, -EPERM; });
  EXPECT_EQ(a.result, -EPERM);
  EXPECT_EQ(calls, 1);
}

TEST(OptionalSetupFlags, TheRequestedSetIsWhatFioAsksForLessDeferTaskrun) {
  EXPECT_EQ(optional_setup_flags(), (std::vector<unsigned>{kCoop, kSingle}));
}

TEST(SetupFlagNames, NamesEveryFlagReadpathUses) {
  EXPECT_EQ(setup_flag_names(0), "none");
  EXPECT_EQ(setup_flag_names(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | kSingle), "SQPOLL|SQ_AFF|SINGLE_ISSUER");
  EXPECT_EQ(setup_flag_names(kCoop | kDefer), "COOP_TASKRUN|DEFER_TASKRUN");
  EXPECT_EQ(setup_flag_names(kSingle | (1u << 30)), "SINGLE_ISSUER|0x40000000");
}

}  // namespace
}  // namespace readpath
