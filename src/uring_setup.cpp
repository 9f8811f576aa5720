// io_uring setup flags: the optional set, the subset search and the names.
#include "uring_setup.hpp"

#include <liburing.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <utility>

namespace readpath {

const std::vector<unsigned>& optional_setup_flags() {
  // As fio asks for them. (DEFER_TASKRUN, which fio 3.33 also requests, is not among
  // them: whether it belongs here is still being measured.)
  static const std::vector<unsigned> flags = {
      IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_SINGLE_ISSUER,
  };
  return flags;
}

SetupAttempt setup_with_optional_flags(const std::vector<unsigned>& optional,
                                       const std::function<int(unsigned)>& setup) {
  // Subsets as bit masks over positions in `optional` (bit i: optional[i]); there are
  // few flags, so all 2^n subsets are cheap to order and try.
  const unsigned n = static_cast<unsigned>(optional.size());
  std::vector<unsigned> subsets(1u << n);
  for (unsigned mask = 0; mask < subsets.size(); ++mask) subsets[mask] = mask;
  std::stable_sort(subsets.begin(), subsets.end(), [](unsigned a, unsigned b) {
    if (std::popcount(a) != std::popcount(b)) return std::popcount(a) > std::popcount(b);
    if (a == b) return false;
    const unsigned first_difference = static_cast<unsigned>(std::countr_zero(a ^ b));
    return ((a >> first_difference) & 1u) != 0;  // a keeps the earlier-listed flag
  });
  unsigned all = 0;
  for (unsigned flag : optional) all |= flag;
  SetupAttempt attempt;
  for (unsigned mask : subsets) {
    attempt.used = 0;
    for (unsigned i = 0; i < n; ++i)
      if (mask & (1u << i)) attempt.used |= optional[i];
    attempt.refused = all & ~attempt.used;
    attempt.result = setup(attempt.used);
    if (attempt.result != -EINVAL) break;
  }
  return attempt;
}

std::string setup_flag_names(unsigned flags) {
  static const std::pair<unsigned, const char*> names[] = {
      {IORING_SETUP_SQPOLL, "SQPOLL"},
      {IORING_SETUP_SQ_AFF, "SQ_AFF"},
      {IORING_SETUP_CQSIZE, "CQSIZE"},
      {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
      {IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"},
      {IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
  };
  std::string out;
  unsigned unnamed = flags;
  for (auto [bit, name] : names) {
    if (flags & bit) out.append(out.empty() ? "" : "|").append(name);
    unnamed &= ~bit;
  }
  if (unnamed != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", unnamed);
    out.append(out.empty() ? "" : "|").append(hex);
  }
  return out.empty() ? "none" : out;
}

}  // namespace readpath
