"""The statistics compare, report and plot share.

Timings on a shared machine are skewed and carry outliers, so everything here is rank-based
and works on the log of a timing (a ratio is a difference of logs):

- Mann–Whitney U with its exact null distribution when there are no ties (computed here,
  so the smallest p a sample size allows, `smallest_p`, is the one the test really gives),
  and the normal approximation with tie correction otherwise.
- The Hodges–Lehmann shift with its distribution-free confidence interval (the interval
  the same U test inverts): on logs, the median ratio between two runs and its 95% CI.
- Order-statistic confidence intervals of a median, and Holm's step-down correction.
- The smallest change a comparison could have detected (`detectable_change`).

Only the standard library; nothing here reads files.
"""

import math
from functools import lru_cache
from statistics import NormalDist

# Below this many repetitions per side no p-value is claimed at all (3 vs 3 gives at
# best p = 0.1 two-sided).
MIN_REPETITIONS = 3
# Exact U distributions are cheap up to here (counts over n1·n2 + 1 values).
_EXACT_LIMIT = 60
# Mann–Whitney's efficiency relative to the t-test is 3/π for normal data: it needs
# π/3 times the samples for the same power.
_MW_EFFICIENCY = 3 / math.pi


def median(values):
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def cv(values):
    """Coefficient of variation (sample standard deviation / mean), or None."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    if mean == 0:
        return None
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / abs(mean)


def _logs(values):
    """Natural logs, or None when a value is not positive (a log scale cannot hold it)."""
    if any(v <= 0 for v in values):
        return None
    return [math.log(v) for v in values]


@lru_cache(maxsize=None)
def _u_counts(n1, n2):
    """How many of the C(n1+n2, n1) orderings give U = 0, 1, …, n1·n2 (U counts the pairs
    whose second-sample value is above the first-sample value)."""
    if n1 == 0 or n2 == 0:
        return (1,)
    # The largest value belongs to the second sample (it beats all n1) or to the first.
    beat_all = _u_counts(n1, n2 - 1)
    beat_none = _u_counts(n1 - 1, n2)
    counts = [0] * (n1 * n2 + 1)
    for u, c in enumerate(beat_all):
        counts[u + n1] += c
    for u, c in enumerate(beat_none):
        counts[u] += c
    return tuple(counts)


def _u_cdf(u, n1, n2):
    """P(U <= u) under the null hypothesis, exactly."""
    counts = _u_counts(n1, n2)
    if u < 0:
        return 0.0
    return sum(counts[:int(math.floor(u)) + 1]) / math.comb(n1 + n2, n1)


def _u_statistic(a, b):
    """Pairs (x in a, y in b) with y > x, ties counting one half."""
    return sum((y > x) + 0.5 * (y == x) for x in a for y in b)


def mann_whitney(a, b, alternative="two-sided"):
    """Mann–Whitney U p-value that b is shifted from a: "greater" (b larger), "less" or
    "two-sided". None when either side has fewer than MIN_REPETITIONS samples."""
    n1, n2 = len(a), len(b)
    if n1 < MIN_REPETITIONS or n2 < MIN_REPETITIONS:
        return None
    if len(set(a)) == 1 and set(a) == set(b):
        return 1.0  # identical constants (exact hook counts): no difference at all
    u = _u_statistic(a, b)
    pooled = list(a) + list(b)
    if len(set(pooled)) == len(pooled) and n1 + n2 <= _EXACT_LIMIT:
        upper = 1.0 - _u_cdf(u - 1, n1, n2)   # P(U >= u)
        lower = _u_cdf(u, n1, n2)             # P(U <= u)
    else:
        mean = n1 * n2 / 2
        ties = {}
        for v in pooled:
            ties[v] = ties.get(v, 0) + 1
        n = n1 + n2
        tie_term = sum(t ** 3 - t for t in ties.values()) / (n * (n - 1))
        sd = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term))
        if sd == 0:
            return 1.0
        normal = NormalDist()
        upper = 1 - normal.cdf((u - mean - 0.5) / sd)
        lower = normal.cdf((u - mean + 0.5) / sd)
    if alternative == "greater":
        return min(1.0, upper)
    if alternative == "less":
        return min(1.0, lower)
    return min(1.0, 2 * min(upper, lower))


def smallest_p(n1, n2, alternative="two-sided"):
    """The smallest p-value Mann–Whitney U can give for n1 vs n2 samples (exact test)."""
    if n1 < 1 or n2 < 1:
        return 1.0
    one_sided = 1 / math.comb(n1 + n2, n1)
    return min(1.0, one_sided if alternative != "two-sided" else 2 * one_sided)


def _critical_rank(n1, n2, confidence):
    """The largest k with P(U < k) <= (1 - confidence) / 2: the Hodges–Lehmann interval
    runs from the k-th smallest to the k-th largest pairwise difference. 0 when no
    interval of that confidence exists at these sample sizes."""
    tail = (1 - confidence) / 2
    if n1 + n2 > _EXACT_LIMIT:
        z = NormalDist().inv_cdf(1 - tail)
        k = math.floor(n1 * n2 / 2 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12))
        return max(0, k)
    counts, total, below, k = _u_counts(n1, n2), math.comb(n1 + n2, n1), 0, 0
    while k < len(counts) and (below + counts[k]) / total <= tail:
        below += counts[k]
        k += 1
    return k


def shift_ci(a, b, confidence=0.95):
    """Hodges–Lehmann estimate of the shift from a to b (median of all b_j - a_i) and its
    distribution-free confidence interval: (shift, low, high); low/high are None when the
    samples are too small for an interval of that confidence."""
    if not a or not b:
        return None, None, None
    diffs = sorted(y - x for x in a for y in b)
    estimate = median(diffs)
    k = _critical_rank(len(a), len(b), confidence)
    if k < 1:
        return estimate, None, None
    return estimate, diffs[k - 1], diffs[-k]


def ratio_ci(base, other, confidence=0.95):
    """The median ratio other/base (Hodges–Lehmann on logs) with its confidence interval:
    (ratio, low, high), all None when a value is not positive; low/high None when too few
    samples for the interval."""
    lb, lo = _logs(base), _logs(other)
    if not lb or not lo:
        return None, None, None
    shift, low, high = shift_ci(lb, lo, confidence)
    exp = lambda v: None if v is None else math.exp(v)   # noqa: E731
    return exp(shift), exp(low), exp(high)


def median_ci(values, confidence=0.95):
    """Distribution-free interval of the median from order statistics: (low, high,
    coverage). With too few values for the asked confidence, the widest interval there
    is (the extremes) and its lower coverage."""
    n = len(values)
    if n == 0:
        return None, None, 0.0
    xs = sorted(values)
    tail = (1 - confidence) / 2
    below, j = 0.0, 0
    # The largest j with P(Bin(n, 1/2) < j) <= tail; the interval is x(j)..x(n+1-j).
    while j < n and below + math.comb(n, j) / 2 ** n <= tail:
        below += math.comb(n, j) / 2 ** n
        j += 1
    j = max(j, 1)
    coverage = 1 - 2 * sum(math.comb(n, i) for i in range(j)) / 2 ** n
    return xs[j - 1], xs[n - j], coverage


def holm(pvalues):
    """Holm–Bonferroni adjusted p-values, in the input order (None entries stay None)."""
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(indexed)
    adjusted = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def geomean(values):
    """Geometric mean of positive ratios; None when there are none."""
    logs = [math.log(v) for v in values if v is not None and v > 0]
    return math.exp(sum(logs) / len(logs)) if logs else None


def log_spread(base, other):
    """The noise of two samples on a ratio scale: the pooled median absolute deviation of
    their logs, scaled to a standard deviation (1.4826·MAD). Robust like the rank test it
    serves — one outlier repetition does not make a comparison look blind. None when it
    cannot be had."""
    lb, lo = _logs(base), _logs(other)
    if not lb or not lo or len(lb) + len(lo) < 3:
        return None
    deviations = []
    for xs in (lb, lo):
        m = median(xs)
        deviations += [abs(x - m) for x in xs]
    return 1.4826 * median(deviations)


def detectable_change(base, other, alpha, power=0.8, margin=0.0):
    """The smallest relative change (0.07 = 7%) a two-sided Mann–Whitney test at level
    alpha would detect with the given power, for samples as large and as noisy as these,
    when only changes beyond a relative margin count. Normal theory on logs, inflated by
    Mann–Whitney's efficiency; math.inf when the sample sizes cannot reach alpha at all,
    None when the noise cannot be estimated."""
    n1, n2 = len(base), len(other)
    if n1 < MIN_REPETITIONS or n2 < MIN_REPETITIONS or smallest_p(n1, n2) > alpha:
        return math.inf
    sigma = log_spread(base, other)
    if sigma is None:
        return None
    normal = NormalDist()
    z = normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)
    return (1 + margin) * math.exp(z * sigma * math.sqrt((1 / n1 + 1 / n2) / _MW_EFFICIENCY)) - 1


def shifted_p(base, other, margin, alternative="two-sided"):
    """Mann–Whitney p that other differs from base by more than a relative margin (0.05 =
    5%): the test applied to other scaled back by the margin, in each direction asked.
    With margin 0 it is the plain test. Values are positive quantities (times, rates)."""
    if margin == 0:
        return mann_whitney(base, other, alternative)
    up = down = None
    if alternative in ("two-sided", "greater"):
        up = mann_whitney(base, [v / (1 + margin) for v in other], "greater")
    if alternative in ("two-sided", "less"):
        down = mann_whitney(base, [v * (1 + margin) for v in other], "less")
    if alternative == "greater":
        return up
    if alternative == "less":
        return down
    if up is None or down is None:
        return None
    return min(1.0, 2 * min(up, down))
