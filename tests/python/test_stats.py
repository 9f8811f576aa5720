"""The statistics behind compare, first as formulas (against scipy), then as claims about
their own behaviour, checked by simulation with the structure real data has: repetitions of
a round moving together (an intraclass correlation of 0.2 and of 0.5, the share of the
variance between rounds; results/example's median was 0.48), a round effect shared by the
machine's cells, outlier rounds and outlier repetitions, and the profiles' real designs
(rounds × repetitions, cells per question, from readpath_bench --list-profiles and its
listing). Each claim over 1000 trials:

- A/A (nothing changed): at least one cell marked in at most 5% of questions;
- --fail-above's family-wise false alarm rate (every gated cell at once, at 0%) at most 5%;
- the printed "detectable" change, planted in a fresh comparison, found 70–90% of the time;
- the printed 95% interval of a ratio covers the true ratio within 2 points of 95%."""

import math
import random

import numpy
import pytest

from conftest import bench_binary, needs_bench
from readpath_lib import compare, engine, results, stats

TRIALS = 1000
SIGMA = 0.1            # total noise of a repetition's log time: about 10%


# ---------------------------------------------------------------- formulas

def test_exact_p_matches_scipy_exact_test_in_every_direction():
    from scipy.stats import mannwhitneyu
    rng = random.Random(7)
    for n1, n2 in [(4, 6), (8, 8), (10, 10)]:
        a = [rng.gauss(0, 1) for _ in range(n1)]
        b = [rng.gauss(0.7, 1) for _ in range(n2)]
        for alternative in ("two-sided", "greater", "less"):
            expected = mannwhitneyu(b, a, alternative=alternative, method="exact").pvalue
            assert stats.mann_whitney(a, b, alternative) == pytest.approx(expected)


def test_ties_get_the_exact_conditional_p_not_a_normal_approximation():
    # ctxsw of one cell: [0, 0, 0] against [24, 24, 26]: of the 20 ways to split the six
    # values into two groups of three, 2 are as extreme (two-sided): p = 0.1, not 0.059.
    assert stats.mann_whitney([0, 0, 0], [24, 24, 26]) == pytest.approx(0.1)
    # enumerated by hand for ties on both sides: [0,0,0,1] vs [0,24,24,26], "greater"
    assert stats.mann_whitney([0, 0, 0, 1], [0, 24, 24, 26], "greater") == pytest.approx(5 / 70)


def test_too_few_rounds_give_no_p_value_and_identical_constants_no_difference():
    assert stats.mann_whitney([1.0, 2.0], [3.0, 4.0]) is None
    assert stats.difference([1.0, 2.0], [3.0, 4.0]) is None
    assert stats.mann_whitney([7.0] * 4, [7.0] * 4) == 1.0


def test_welch_and_paired_t_match_scipy():
    from scipy.stats import ttest_ind, ttest_rel
    rng = random.Random(3)
    a = [rng.gauss(0, 1) for _ in range(8)]
    b = [x + rng.gauss(0.5, 0.7) for x in a]
    assert stats.t_p(*stats.difference(a, b)) == pytest.approx(
        ttest_ind(b, a, equal_var=False).pvalue)
    assert stats.t_p(*stats.difference(a, b, paired=True)) == pytest.approx(ttest_rel(b, a).pvalue)


def test_t_tests_reach_p_values_a_rank_test_of_eight_rounds_cannot():
    # Holm over every cell of the default profile asks for p below 0.05/573; a rank test of
    # 8 against 8 rounds bottoms out at 2/C(16,8) = 1.6e-4, a t-test does not.
    a = [0.01 * i for i in range(8)]
    b = [0.5 + 0.01 * i for i in range(8)]
    assert stats.mann_whitney(a, b) == pytest.approx(2 / math.comb(16, 8))
    assert stats.t_p(*stats.difference(a, b)) < 0.05 / 573


def test_holm_adjusts_in_rank_order_and_keeps_monotonicity():
    adjusted = stats.holm([0.01, 0.04, 0.03, None])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert adjusted[3] is None


def test_geomean_of_ratios():
    assert stats.geomean([2.0, 0.5]) == pytest.approx(1.0)
    assert stats.geomean([]) is None


def test_detectable_shift_is_beyond_what_a_plug_in_noise_promises_and_grows_with_noise():
    # The detectable shift is solved for 80% power averaged over what the noise may really
    # be: at the estimated noise alone it has more (the simulations below show the average).
    shift = stats.detectable_shift(0.05, 14, 0.05 / 30)
    assert 0.8 < stats.power_of(shift, 0.05, 14, 0.05 / 30) < 0.95
    assert stats.detectable_shift(0.10, 14, 0.05 / 30) == pytest.approx(2 * shift, rel=1e-3)
    assert stats.detectable_shift(0.05, 14, 0.05 / 300) > shift


def test_an_estimate_says_what_its_interval_is():
    rounds = [[100.0, 101.0], [104.0, 103.0], [98.0, 99.0], [102.0, 100.0]]
    across = stats.estimate(rounds)
    assert across.across_rounds and across.coverage == 0.95
    assert across.interval_name == "95% CI over 4 rounds"
    assert across.low < across.value < across.high
    one = stats.estimate([[100.0, 102.0, 101.0]])
    assert not one.across_rounds and one.coverage == pytest.approx(0.75)
    assert one.interval_name == "range of 3 repetitions in 1 round (75%)"
    assert (one.low, one.high) == (100.0, 102.0)


# ---------------------------------------------------------------- simulation

def designs():
    """(profile, rounds, repetitions, [cells per question]) of the quick and default
    profiles, as readpath_bench defines them (native listing: its questions are (file size,
    cache state))."""
    bench = bench_binary()
    profiles = engine.list_profiles(bench)
    out = []
    for name in ("quick", "default"):
        questions = {}
        for cell in engine.list_cells(bench, ["--profile", name]):
            method, params = results.parse_name(cell)
            questions.setdefault((params.get("file"), params.get("warm")), []).append(method)
        out.append((name, profiles[name]["rounds"], profiles[name]["repetitions"],
                    [len(v) for v in questions.values()]))
    return out


class Machine:
    """Log times of one run: per round a machine-wide effect (with a 5% chance of a
    hiccup, +30%), per cell and round its own part, per repetition noise (with a 2% chance
    of an outlier), in the proportions an intraclass correlation `icc` sets."""

    def __init__(self, rng, icc, rounds, repetitions):
        self.rng, self.rounds, self.reps = rng, rounds, repetitions
        self.between = math.sqrt(icc) * SIGMA
        self.within = math.sqrt(1 - icc) * SIGMA
        self.effects = rng.normal(0, self.between, rounds) + 0.3 * (rng.random(rounds) < 0.05)

    def cells(self, count, shifts):
        """`count` Benchmarks, cell c `shifts[c]` (log) slower."""
        shape = (count, self.rounds, self.reps)
        own = self.rng.normal(0, self.between, shape[:2])[:, :, None]
        noise = self.rng.normal(0, self.within, shape)
        noise += (self.rng.random(shape) < 0.02) * abs(self.rng.normal(0, 3 * SIGMA, shape))
        logs = (self.effects[None, :, None] + own) / math.sqrt(2) + noise + shifts[:, None, None]
        values = (1e6 * numpy.exp(logs)).reshape(count, -1).tolist()
        rounds = [r for r in range(1, self.rounds + 1) for _ in range(self.reps)]
        out = []
        for c in range(count):
            bench = results.Benchmark(str(c), "tmpfs", "read", {})
            bench.samples["time"], bench.sample_rounds["time"] = values[c], rounds
            out.append(bench)
        return out


def question(rng, icc, rounds, reps, cells, shift=0.0):
    """The Deltas of one question, base against other, marked as compare marks them;
    cell 0 of the other run is `shift` (log) slower."""
    shifts = numpy.zeros(cells)
    shifts[0] = shift
    base = Machine(rng, icc, rounds, reps).cells(cells, numpy.zeros(cells))
    other = Machine(rng, icc, rounds, reps).cells(cells, shifts)
    deltas = [compare.timing_delta(results.TIME, b, o, None) for b, o in zip(base, other)]
    compare.mark(deltas, 0.05, timing=True)
    return deltas


@needs_bench
@pytest.mark.parametrize("icc", [0.2, 0.5])
def test_an_unchanged_machine_marks_few_questions_fails_few_gates_and_intervals_cover(icc, capsys):
    for name, rounds, reps, sizes in designs():
        rng = numpy.random.default_rng(list(f"{name}-{icc}".encode()))
        marked_questions = gate_failures = covered = intervals = 0
        for _ in range(TRIALS):
            family = []
            for size in sizes:
                deltas = question(rng, icc, rounds, reps, size)
                marked_questions += any(d.significant for d in deltas)
                covered += sum(d.low <= 1.0 <= d.high for d in deltas)
                intervals += len(deltas)
                family += deltas
            compare.gate_family(family, 0.05, 0.0)
            gate_failures += any(d.beyond for d in family)
        rate = marked_questions / (TRIALS * len(sizes))
        with capsys.disabled():
            print(f"\n{name} ({rounds}x{reps}, {sum(sizes)} cells, ICC {icc}): A/A marks a cell "
                  f"in {rate:.1%} of questions, the gate fails {gate_failures / TRIALS:.1%}, "
                  f"95% intervals cover {covered / intervals:.1%}", end="")
        assert rate <= 0.05, f"{name}: A/A marked a cell in {rate:.1%} of questions"
        assert gate_failures / TRIALS <= 0.05, (
            f"{name}: the gate failed {gate_failures} of {TRIALS} A/A comparisons")
        assert abs(covered / intervals - 0.95) <= 0.02, (
            f"{name}: 95% intervals covered the truth {covered / intervals:.1%} of the time")


@needs_bench
@pytest.mark.parametrize("icc", [0.2, 0.5])
def test_the_printed_detectable_change_is_found_most_of_the_time(icc, capsys):
    for name, rounds, reps, sizes in designs():
        rng = numpy.random.default_rng(list(f"power-{name}-{icc}".encode()))
        size = max(sizes)
        found = 0
        for _ in range(TRIALS):
            printed = question(rng, icc, rounds, reps, size)[0].detectable
            found += question(rng, icc, rounds, reps, size, math.log1p(printed))[0].significant
        with capsys.disabled():
            print(f"\n{name} ({rounds}x{reps}, {size} cells, ICC {icc}): the printed detectable "
                  f"change, planted, was found in {found / TRIALS:.1%}", end="")
        assert 0.7 <= found / TRIALS <= 0.9, (
            f"{name}: a planted change of the printed size was found in {found / TRIALS:.0%}")
