// io_uring setup flags: the optional ones readpath asks for, how it falls back when a
// kernel refuses some of them, and their names. Kept apart from the reader so that the
// fallback can be tested without a kernel.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace readpath {

// Flags that make completion handling cheaper, most wanted first. A kernel that refuses
// some of them still runs the cell without those (its label says which). Adding a flag
// is one line in uring_setup.cpp.
const std::vector<unsigned>& optional_setup_flags();

struct SetupAttempt {
  int result = 0;        // what setup returned for the last subset it was given
  unsigned used = 0;     // the optional flags in that subset
  unsigned refused = 0;  // the optional flags left out of it
};

// Calls setup(subset) for subsets of `optional` from the most flags to the fewest (among
// subsets of one size, those keeping the flags listed first come first) until setup
// returns anything but -EINVAL, the kernel's answer to a flag it does not accept alone or
// in that company. So only what the kernel refuses is dropped: a kernel that refuses
// COOP_TASKRUN beside SQPOLL still gets SINGLE_ISSUER. Other errors end the search.
SetupAttempt setup_with_optional_flags(const std::vector<unsigned>& optional,
                                       const std::function<int(unsigned)>& setup);

// "SQPOLL|SQ_AFF|SINGLE_ISSUER", or "none".
std::string setup_flag_names(unsigned flags);

}  // namespace readpath
