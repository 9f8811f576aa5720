"""Compare result runs benchmark by benchmark: the first is the baseline, the others are
set against it, one table per metric and question — each file size and cache state is a
question ("did this panel of paths change?") and the unit of multiple-testing correction.

The unit is the round: one process run of readpath_bench (a run's raw/<chunk>-r<N>.json;
a lone result file is one round). Repetitions inside a round move together — the state of
the machine when it ran — so each cell is summarised per round (the median of its
repetitions) and only rounds are counted as independent; with fewer than 3 rounds a side
there is no test, only the values. Per benchmark: the geometric mean of its rounds'
medians, the change as a ratio with its 95% confidence interval and the p of Welch's
t-test on the rounds' log medians (paired round by round when both runs come from one
interleaved session, as compare-options' configurations do), a mark where the change is
significant after Holm correction within the question, and the smallest change the
comparison detects with 80% power at its rounds, noise and Holm step. Counts that vary
between rounds use the exact Mann–Whitney U; a myfs hook count constant on both sides is
compared exactly. Instructions per request counted under TCG (instructions_per_request;
kernel_, user_ and interrupt_ with --metric) are near-exact: on the rounds whose passes had
no context switch, a change beyond their A/A spread (2%) is marked, without a test. Reference cells (memcpy: no kernel) show how the machine itself moved;
they are marked `ref`, never gated and left out of the geometric means.

Two runs taken at different times are compared as independent sets of rounds: the test
cannot tell a change of the code from a change of the machine between them (another
tenant, a frequency change), which is why the reference cells' movement is printed beside
the result, and why each run's own rounds are set against each other (a self-check: odd
against even rounds shows what noise alone marks; first half against second half, what
the machine's drift within one run looks like). Given one run, compare sets its odd rounds
against its even rounds in full (tables, --fail-above): what that run's noise alone marks.

Examples:
  readpath compare results/2026-11-20-6.1-box results/2026-11-21-6.12-box
  readpath compare results/2026-11-20-6.1-box --fail-above 10    # one run: odd vs even rounds
  readpath compare base/ new/ --metric time --fail-above 10    # for CI

--fail-above PCT asks a stricter question than significance: is a timing worse by MORE than
PCT percent, significantly? One-sided Welch t on the rounds, shifted by PCT, with Holm over
every gated cell of the whole comparison (all questions and runs): an unchanged machine
fails it in at most alpha of comparisons. It gates time per iteration (--gate-metric cpu_ns:
the reading thread's CPU time, which leaves out waiting to run and steal), native timings
only: TCG timings are marked "emulated" and never fail it, nor do reference cells.
Runs on a block device carry its requests, merges and KiB per pass (dev_*) as counters;
when the device, its I/O scheduler, model or read_ahead_kb differ between two runs, that is
said before the tables.
"""

from .. import cli, results
from ..compare import (GATED, compare, describe_self_check, device_changes, drift_note,
                       format_ci, format_delta, gate, legend, metric_names,
                       render, self_check, split_rounds)
from ..stats import MIN_ROUNDS
from ..errors import UsageError


def add_arguments(parser):
    cli.add_runs_argument(parser, "the first is the baseline")
    parser.add_argument("--metric", action="append", metavar="M",
                        help=f"only this metric (repeatable): {metric_names()}; default: "
                             "all present but the latency percentiles beyond p50 and p99")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level after Holm correction within each question "
                             "(file size and cache state; default 0.05)")
    parser.add_argument("--min-effect", type=cli.percentage, default=0.0, metavar="PCT",
                        help="call a change significant only when it is beyond PCT percent "
                             "with confidence (default 0: any change; on a noisy machine, 5)")
    parser.add_argument("--fail-above", type=cli.percentage, metavar="PCT",
                        help="exit 1 if any timing is significantly worse than the baseline "
                             "by more than PCT percent (one-sided, Holm over every gated "
                             "cell; native timings, reference cells never)")
    parser.add_argument("--gate-metric", choices=GATED, default="time",
                        help="what --fail-above gates: time per iteration (default) or "
                             "cpu_ns, the reading thread's CPU time per iteration")


def run(args):
    if args.alpha <= 0 or args.alpha >= 1:
        raise UsageError("--alpha must be between 0 and 1, e.g. 0.05")
    runs = checked = results.load_all(args.runs)
    if len(runs) == 1:
        # One run: its odd rounds against its even ones, which only noise tells apart.
        parts = split_rounds(runs[0])
        if parts is None:
            raise UsageError(f"{runs[0].path} has fewer than {2 * MIN_ROUNDS} numbered rounds to "
                             "set against each other; give a second run to compare with")
        print(f"Self-check: {runs[0].label}'s odd rounds against its even rounds; they ran "
              "interleaved, so any mark below is noise (about 5% of questions may show one).")
        runs = parts
    tables = compare(runs, args.metric, args.alpha, min_effect=args.min_effect)
    if not tables:
        raise UsageError("the runs share no metric with values; try without --metric")
    print(f"Baseline: {runs[0].label} ({runs[0].path})")
    for other in runs[1:]:
        print(f"Compared: {other.label} ({other.path})")
    for line in device_changes(runs):
        print(line)
    for table in tables:
        print()
        print(render(table, runs))
    print()
    print(legend(tables, args.alpha))
    for line in drift_note(runs, tables) if checked is runs else []:
        print()
        print(line)
    for run in checked:
        check = describe_self_check(self_check(run, args.alpha), run.label)
        if check:
            print()
            print(check)
    if args.fail_above is None:
        return 0
    result = gate(runs, args.alpha, args.fail_above, args.gate_metric)
    power = (f"; in the median cell it catches a slowdown of {result.detectable:.0%} with 80% "
             f"power" if result.detectable is not None else "")
    untested = (f"; {result.untested} cell(s) had too few rounds for a test"
                if result.untested else "")
    family = (f"({result.metric.title}; one-sided, Holm over {result.cells} gated cells"
              f"{untested}{power})")
    if result.found:
        print(f"\nreadpath compare: {len(result.found)} timing(s) significantly worse by more "
              f"than {args.fail_above:g}% {family}:")
        for label, bench, d in result.found:
            print(f"  {results.short_name(bench.name)} {format_delta(d.delta_pct)} "
                  f"{format_ci(d)} in {label} (Holm-adjusted p = {d.p_beyond:.2g})")
        return 1
    print(f"\nNo timing is significantly worse than the baseline by more than "
          f"{args.fail_above:g}% {family}.")
    return 0
