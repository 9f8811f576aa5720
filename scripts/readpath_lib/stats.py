"""The statistics compare and report share: Mann–Whitney U, Holm, geometric means, CIs.

scipy is imported inside the functions that need it, so `readpath --help` stays fast.
"""

import math

# Below this many repetitions per side Mann–Whitney U cannot reach p < 0.05 (3 vs 3 gives
# at best p = 0.1 two-sided), so no p-value is claimed at all.
MIN_REPETITIONS = 3


def mann_whitney(a, b):
    """Two-sided Mann–Whitney U p-value, or None when either side has too few samples."""
    if len(a) < MIN_REPETITIONS or len(b) < MIN_REPETITIONS:
        return None
    if len(set(a)) == 1 and set(a) == set(b):
        return 1.0  # identical constants (exact hook counts): no difference at all
    from scipy.stats import mannwhitneyu
    p = mannwhitneyu(a, b, alternative="two-sided").pvalue
    return 1.0 if math.isnan(p) else float(p)


def smallest_p(n1, n2):
    """The smallest two-sided Mann–Whitney U p-value n1 vs n2 samples can ever give."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


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


def mean_ci(values, confidence=0.95):
    """(mean, half-width of the Student-t confidence interval); half-width 0 for one sample."""
    n = len(values)
    if n == 0:
        return None, None
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    from scipy.stats import t
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)


def ratio_ci(base, other, confidence=0.95):
    """Ratio of means other/base with its confidence interval (low, high), taken on the
    log of the ratio (delta method, Student t with the smaller side's degrees of freedom)
    so the interval stays positive and symmetric in factors, not in differences."""
    nb, no = len(base), len(other)
    if not nb or not no:
        return None, None, None
    mb, mo = sum(base) / nb, sum(other) / no
    if mb <= 0 or mo <= 0:
        return None, None, None
    ratio = mo / mb
    if nb < 2 or no < 2:
        return ratio, ratio, ratio
    from scipy.stats import t
    var_b = sum((v - mb) ** 2 for v in base) / (nb - 1)
    var_o = sum((v - mo) ** 2 for v in other) / (no - 1)
    se = math.sqrt(var_b / (nb * mb * mb) + var_o / (no * mo * mo))
    half = t.ppf((1 + confidence) / 2, min(nb, no) - 1) * se
    return ratio, ratio * math.exp(-half), ratio * math.exp(half)


def cv(values):
    """Coefficient of variation (sample standard deviation / mean), or None."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    if mean == 0:
        return None
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / abs(mean)
