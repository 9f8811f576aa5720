"""The statistics behind compare: Mann–Whitney U (exact), Hodges–Lehmann intervals, order-
statistic intervals of a median, Holm, and what a comparison could detect."""

import math
import random

import pytest

from readpath_lib import stats


def test_too_few_repetitions_give_no_p_value():
    assert stats.mann_whitney([1.0, 2.0], [3.0, 4.0]) is None


def test_separated_samples_reach_the_smallest_possible_p():
    p = stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert p == pytest.approx(stats.smallest_p(5, 5))
    assert stats.smallest_p(5, 5) == pytest.approx(2 / 252)


def test_exact_p_matches_scipy_exact_test_in_every_direction():
    from scipy.stats import mannwhitneyu
    rng = random.Random(7)
    for n1, n2 in [(4, 6), (8, 8), (12, 12)]:
        a = [rng.gauss(0, 1) for _ in range(n1)]
        b = [rng.gauss(0.7, 1) for _ in range(n2)]
        for alternative in ("two-sided", "greater", "less"):
            expected = mannwhitneyu(b, a, alternative=alternative, method="exact").pvalue
            assert stats.mann_whitney(a, b, alternative) == pytest.approx(expected)


def test_twelve_repetitions_can_survive_holm_over_a_few_dozen_cells():
    # Why run's profiles take 12: 8 vs 8 cannot survive Holm over 331 cells, 12 vs 12 can
    # survive it over any one question (file size and cache state) of the default profile.
    assert stats.smallest_p(8, 8) * 331 > 0.05
    assert stats.smallest_p(12, 12) * 60 < 0.05


def test_identical_constants_are_not_different():
    assert stats.mann_whitney([7.0] * 4, [7.0] * 4) == 1.0


def test_holm_adjusts_in_rank_order_and_keeps_monotonicity():
    adjusted = stats.holm([0.01, 0.04, 0.03, None])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert adjusted[3] is None


def test_geomean_of_ratios():
    assert stats.geomean([2.0, 0.5]) == pytest.approx(1.0)
    assert stats.geomean([]) is None


def test_ratio_of_constant_samples_is_exact_and_its_interval_needs_enough_samples():
    assert stats.ratio_ci([2.0] * 3, [3.0] * 3) == (pytest.approx(1.5), None, None)
    assert stats.ratio_ci([2.0] * 5, [3.0] * 5) == pytest.approx((1.5, 1.5, 1.5))


def test_ratio_interval_covers_a_planted_ratio_at_its_stated_rate():
    rng = random.Random(3)
    covered = 0
    for _ in range(200):
        base = [100 * math.exp(rng.gauss(0, 0.1)) for _ in range(12)]
        slower = [130 * math.exp(rng.gauss(0, 0.1)) for _ in range(12)]
        ratio, low, high = stats.ratio_ci(base, slower)
        assert 0 < low <= ratio <= high
        covered += low <= 1.3 <= high
    assert 0.90 <= covered / 200 <= 1.0


def test_median_interval_uses_order_statistics_with_at_least_the_asked_coverage():
    low, high, coverage = stats.median_ci(list(range(10)))
    assert (low, high) == (1, 8) and coverage >= 0.95
    low, high, coverage = stats.median_ci(list(range(5)))
    assert (low, high) == (0, 4) and coverage < 0.95   # the widest there is, said honestly


def test_detectable_change_grows_with_noise_and_is_infinite_below_the_floor():
    rng = random.Random(5)
    quiet = [100 * math.exp(rng.gauss(0, 0.01)) for _ in range(12)]
    noisy = [100 * math.exp(rng.gauss(0, 0.10)) for _ in range(12)]
    assert stats.detectable_change(quiet, quiet, 0.05 / 30) < stats.detectable_change(
        noisy, noisy, 0.05 / 30)
    assert stats.detectable_change(quiet[:4], quiet[:4], 0.05 / 30) == math.inf


def test_a_margin_hides_changes_inside_it_and_keeps_those_beyond():
    base = [100.0 + i for i in range(12)]
    plus3 = [v * 1.03 for v in base]
    plus30 = [v * 1.30 for v in base]
    assert stats.shifted_p(base, plus3, 0.0) < 0.05
    assert stats.shifted_p(base, plus3, 0.05) > 0.5
    assert stats.shifted_p(base, plus30, 0.05) < 1e-4
    assert stats.shifted_p(base, plus30, 0.05, "less") > 0.5
