"""The statistics compare, report and plot share.

The unit of a timing is the round, not the repetition. A round is one process run of a
chunk of cells (`readpath run`), or one configuration's run in one round of an interleaved
guest session (`compare-options`). Repetitions inside one round move together — the
machine's state when the round ran, the process's memory layout — so they are summarised
first, one value per round (the median of the round's repetitions, of their logs for a
timing), and every test, interval and "detectable" works on those round values:

- Welch's t-test on the round values of two runs taken apart (unpaired), and the paired
  t-test where the two were interleaved round by round in one session (A and B of the same
  round form a pair, and the machine's drift between rounds cancels). Timings are compared
  on logs, so a difference is a ratio. The t distribution is exact for normal round values
  and, with the counterbalanced designs readpath uses, holds up for the skewed, outlier-prone
  values of a shared machine: checked by simulation with round effects (tests/python/
  test_stats.py). It can give p-values far below what a rank test of 8 against 8 rounds
  allows (2/C(16, 8) = 1.6e-4), which a family-wise correction over every cell needs.
- The t interval of the same difference (the interval the test inverts), and of one run's
  value (the geometric mean of its round values for a timing).
- The smallest change a comparison detects with 80% power, from the noncentral t
  distribution at the comparison's rounds, noise and the threshold its multiplicity sets.
- Mann–Whitney U with its exact conditional null distribution, ties included (counts tie
  often), for counts that vary between rounds; Holm's step-down correction.

Nothing here reads files.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

# Below this many rounds per side no p-value and no interval across rounds are claimed.
MIN_ROUNDS = 3
POWER = 0.8


def median(values):
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def mean(values):
    return sum(values) / len(values) if values else None


def variance(values):
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    return sum((v - m) ** 2 for v in values) / (n - 1)


def cv(values):
    """Coefficient of variation (sample standard deviation / mean), or None."""
    var = variance(values)
    if var is None:
        return None
    m = sum(values) / len(values)
    return None if m == 0 else math.sqrt(var) / abs(m)


def logs(values):
    """Natural logs, or None when a value is not positive (a log scale cannot hold it)."""
    if not values or any(v <= 0 for v in values):
        return None
    return [math.log(v) for v in values]


def _special():
    """scipy's t and noncentral t functions (ufuncs: microseconds a call, where
    scipy.stats' distribution objects take a hundred), imported on first use."""
    import scipy.special
    return scipy.special


def _t_sf(x, df):
    """P(T > x) for Student's t with df degrees of freedom."""
    return float(_special().stdtr(df, -x))


def _t_isf(q, df):
    """The x with P(T > x) = q."""
    return float(_special().stdtrit(df, 1 - q))


def _nct_sf(x, df, noncentrality):
    """P(T' > x) for the noncentral t, by Johnson and Kotz's normal approximation: within
    0.02 of the exact value for df ≥ 3 at the thresholds and shifts compare uses, and a
    thousand times cheaper than scipy's integral, which a power solve calls hundreds of
    times."""
    z = (x * (1 - 1 / (4 * df)) - noncentrality) / math.sqrt(1 + x * x / (2 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


# ---------------------------------------------------------------- rounds

def round_values(by_round, log):
    """One value per round, in the order given: the median of the round's repetitions, on
    the log scale when `log` (timings). None when a value cannot be logged."""
    out = []
    for values in by_round:
        if not values:
            continue
        if len(values) == 1:   # the profiles' rounds: one repetition each
            value = values[0]
            if log:
                if value <= 0:
                    return None
                value = math.log(value)
            out.append(value)
            continue
        if log:
            values = logs(values)
            if values is None:
                return None
        out.append(median(values))
    return out


def log_spread(by_round):
    """The noise of a timing, split the way the rounds see it: (standard deviation of the
    round values, of the repetitions inside a round), both on the log scale (≈ relative);
    either None when it cannot be had."""
    rounds = round_values(by_round, log=True)
    between = None if rounds is None or len(rounds) < 2 else math.sqrt(variance(rounds))
    within, df = 0.0, 0
    for values in by_round:
        lv = logs(values)
        if lv and len(lv) > 1:
            within += variance(lv) * (len(lv) - 1)
            df += len(lv) - 1
    return between, (math.sqrt(within / df) if df else None)


# ---------------------------------------------------------------- t: one and two samples

def _welch(a, b):
    """(difference of means b − a, its standard error, Welch–Satterthwaite df)."""
    va, vb = variance(a), variance(b)
    na, nb = len(a), len(b)
    d = mean(b) - mean(a)
    qa, qb = va / na, vb / nb
    se2 = qa + qb
    if se2 == 0:
        return d, 0.0, na + nb - 2
    df = se2 ** 2 / (qa ** 2 / (na - 1) + qb ** 2 / (nb - 1))
    return d, math.sqrt(se2), df


def _paired(a, b):
    """(mean of the differences b_i − a_i, its standard error, df)."""
    diffs = [y - x for x, y in zip(a, b)]
    n = len(diffs)
    return mean(diffs), math.sqrt(variance(diffs) / n), n - 1


def difference(a, b, paired=False):
    """(estimate, standard error, degrees of freedom) of mean(b) − mean(a): paired when the
    values are pairs in the same order. None with fewer than MIN_ROUNDS values per side."""
    if paired:
        if len(a) != len(b) or len(a) < MIN_ROUNDS:
            return None
        return _paired(a, b)
    if len(a) < MIN_ROUNDS or len(b) < MIN_ROUNDS:
        return None
    return _welch(a, b)


def t_p(estimate, se, df, shift=0.0, alternative="two-sided"):
    """p of a t statistic that the true difference is beyond `shift` (≥ 0) in the direction
    asked: "greater" (above +shift), "less" (below −shift), "two-sided" (either; twice the
    smaller one-sided p). A zero standard error (constant values) is exact: p is 0 when the
    estimate is beyond the shift, 1 otherwise."""
    def one(direction):
        excess = (estimate - shift) if direction == "greater" else (-estimate - shift)
        if se == 0:
            return 0.0 if excess > 0 else 1.0
        return _t_sf(excess / se, df)
    if alternative != "two-sided":
        return one(alternative)
    return min(1.0, 2 * min(one("greater"), one("less")))


def t_interval(estimate, se, df, confidence=0.95):
    """(low, high) of the difference (or mean) at the confidence asked."""
    if se == 0:
        return estimate, estimate
    half = _t_isf((1 - confidence) / 2, df) * se
    return estimate - half, estimate + half


def mean_interval(values, confidence=0.95):
    """(mean, low, high) of one sample's mean (t interval); low/high None below MIN_ROUNDS."""
    m = mean(values)
    if len(values) < MIN_ROUNDS:
        return m, None, None
    low, high = t_interval(m, math.sqrt(variance(values) / len(values)), len(values) - 1,
                           confidence)
    return m, low, high


# Points of the noise's own uncertainty that the power of a design is averaged over.
_NOISE_POINTS = 16


@lru_cache(maxsize=4096)
def _noncentrality(df, alpha, power, two_sided):
    """The ratio of a true difference to its estimated standard error at which a t test at
    level alpha with df degrees of freedom has the power asked, averaged over the noise the
    estimate may really stand for: the true variance is df·s²/χ²(df) for an estimated s², so
    the power at shift δ is the mean, over quantiles of χ², of P(T' > t_crit) with T' a
    noncentral t(df, δ/(se·scale)). A plug-in estimate (scale 1) promises 80% and delivers
    64–74% at 8–10 rounds (tests/python/test_stats.py simulates it); averaged, 71–81%."""
    crit = _t_isf(alpha / 2 if two_sided else alpha, df)
    special = _special()
    scales = [math.sqrt(df / float(special.chdtri(df, 1 - (i + 0.5) / _NOISE_POINTS)))
              for i in range(_NOISE_POINTS)]

    def averaged(ratio):
        return sum(_nct_sf(crit, df, ratio / scale) for scale in scales) / len(scales)

    low, high = 0.0, crit + 10.0
    while averaged(high) < power:
        high *= 2
    for _ in range(50):
        mid = (low + high) / 2
        if averaged(mid) < power:
            low = mid
        else:
            high = mid
    return high


def detectable_shift(se, df, alpha, power=POWER, two_sided=True):
    """The smallest true difference a t test with this standard error and df detects at
    level alpha with the power asked (averaged over the uncertainty of the noise, see
    _noncentrality): on the scale of the values (logs for a timing)."""
    if se is None or df is None or df <= 0:
        return None
    # Round df so that similar comparisons share one solve; 0.5 of a degree is noise.
    return se * _noncentrality(max(1.0, round(df * 2) / 2), alpha, power, two_sided)


def power_of(shift, se, df, alpha, two_sided=True):
    """The power of the t test to detect a true difference `shift` (≥ 0)."""
    crit = _t_isf(alpha / 2 if two_sided else alpha, df)
    return _nct_sf(crit, df, shift / se)


# ---------------------------------------------------------------- ranks: counts

def mann_whitney(a, b, alternative="two-sided"):
    """Mann–Whitney U p-value that b is shifted from a ("greater": b larger, "less",
    "two-sided"), from its exact conditional null distribution: every split of the pooled
    values into groups of len(a) and len(b) equally likely, ties kept as midranks. None
    with fewer than MIN_ROUNDS values per side; 1.0 for identical constants."""
    n1, n2 = len(a), len(b)
    if n1 < MIN_ROUNDS or n2 < MIN_ROUNDS:
        return None
    pooled = sorted(list(a) + list(b))
    if pooled[0] == pooled[-1]:
        return 1.0
    # Doubled midranks are whole numbers: rank sums of a subset count exactly.
    rank2, i = {}, 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j] == pooled[i]:
            j += 1
        rank2[pooled[i]] = i + j + 1   # 2 × the mean of ranks i+1 .. j
        i = j
    observed = sum(rank2[v] for v in b)
    counts = _rank_sum_counts(tuple(rank2[v] for v in pooled), n2)
    total = sum(counts.values())
    upper = sum(c for s, c in counts.items() if s >= observed) / total
    lower = sum(c for s, c in counts.items() if s <= observed) / total
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    return min(1.0, 2 * min(upper, lower))


@lru_cache(maxsize=256)
def _rank_sum_counts(ranks, k):
    """{sum: number of k-subsets of `ranks` with that sum}."""
    ways = [dict() for _ in range(k + 1)]
    ways[0][0] = 1
    for r in ranks:
        for size in range(min(k, len(ranks)) - 1, -1, -1):
            for s, c in ways[size].items():
                ways[size + 1][s + r] = ways[size + 1].get(s + r, 0) + c
    return ways[k]


# ---------------------------------------------------------------- families and summaries

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
    logs_ = [math.log(v) for v in values if v is not None and v > 0]
    return math.exp(sum(logs_) / len(logs_)) if logs_ else None


def median_ci(values, confidence=0.95):
    """Distribution-free interval of the median from order statistics: (low, high,
    coverage). With too few values for the asked confidence, the widest interval there
    is (the extremes) and its lower coverage. (A LAVA device, with busybox awk and no
    logarithm, summarises a cell's round medians this way.)"""
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


# ---------------------------------------------------------------- one cell's value

@dataclass(frozen=True)
class Estimate:
    """A cell's value with its interval and what the interval really is.

    With MIN_ROUNDS rounds or more: the mean of the round values (for a timing or a rate the
    geometric mean of the rounds' medians) with its t interval, `coverage` the confidence it
    was made for. With fewer, there is no interval across rounds: low and high are the range
    of the repetitions and `coverage` the chance that range holds their median (1 − 2^(1−n):
    75% for 3), which says nothing of how a rerun would move, since repetitions of one round
    move together. `spread` is the standard deviation of the round values (of the
    repetitions with a single round): relative, on the log scale, for timings."""

    value: float
    low: float = None
    high: float = None
    coverage: float = None
    rounds: int = 0
    repetitions: int = 0
    spread: float = None

    @property
    def across_rounds(self):
        return self.rounds >= MIN_ROUNDS

    @property
    def interval_name(self):
        """`95% CI over 8 rounds`, `range of 3 repetitions in 1 round (75%)`."""
        if self.low is None:
            return "no interval"
        if self.across_rounds:
            return f"{self.coverage:.0%} CI over {self.rounds} rounds"
        rounds = f"{self.rounds} round{'s' if self.rounds != 1 else ''}"
        return f"range of {self.repetitions} repetitions in {rounds} ({self.coverage:.0%})"


def estimate(by_round, log=True, confidence=0.95):
    """The Estimate of one cell from its values per round (lists, in round order); on the
    log scale for timings and rates (log), else the median of the rounds' medians with no
    interval. None without values."""
    by_round = [list(v) for v in by_round if v]
    flat = [v for values in by_round for v in values]
    if not flat:
        return None
    rounds = round_values(by_round, log)
    if rounds is None:   # a value a log cannot hold: no spread, the median as it is
        return Estimate(median(flat), rounds=len(by_round), repetitions=len(flat))
    if not log:
        return Estimate(median(rounds), rounds=len(rounds), repetitions=len(flat))
    if len(rounds) >= MIN_ROUNDS:
        centre, low, high = mean_interval(rounds, confidence)
        return Estimate(math.exp(centre), math.exp(low), math.exp(high), confidence,
                        len(rounds), len(flat), math.sqrt(variance(rounds)))
    centre = math.exp(mean(rounds))
    if len(flat) < 2:
        return Estimate(centre, rounds=len(rounds), repetitions=len(flat))
    spread = math.sqrt(variance(logs(flat)))
    low, high = min(flat), max(flat)
    return Estimate(min(max(centre, low), high), low, high, 1 - 2 / 2 ** len(flat), len(rounds),
                    len(flat), spread)
