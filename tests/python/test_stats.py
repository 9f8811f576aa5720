"""The statistics behind compare: Mann–Whitney U, Holm, geometric mean, intervals."""

import pytest

from readpath_lib import stats


def test_too_few_repetitions_give_no_p_value():
    assert stats.mann_whitney([1.0, 2.0], [3.0, 4.0]) is None


def test_separated_samples_reach_the_smallest_possible_p():
    p = stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert p == pytest.approx(stats.smallest_p(5, 5))
    assert stats.smallest_p(5, 5) == pytest.approx(2 / 252)


def test_identical_constants_are_not_different():
    assert stats.mann_whitney([7.0] * 4, [7.0] * 4) == 1.0


def test_holm_adjusts_in_rank_order_and_keeps_monotonicity():
    adjusted = stats.holm([0.01, 0.04, 0.03, None])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert adjusted[3] is None


def test_geomean_of_ratios():
    assert stats.geomean([2.0, 0.5]) == pytest.approx(1.0)
    assert stats.geomean([]) is None


def test_ratio_ci_is_zero_width_for_constant_samples():
    ratio, low, high = stats.ratio_ci([2.0, 2.0, 2.0], [3.0, 3.0, 3.0])
    assert (ratio, low, high) == pytest.approx((1.5, 1.5, 1.5))


def test_ratio_ci_stays_positive_however_noisy():
    ratio, low, high = stats.ratio_ci([1.0, 10.0, 0.1], [1.0, 12.0, 0.2])
    assert 0 < low < ratio < high
