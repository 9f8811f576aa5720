"""Compare result runs benchmark by benchmark: the first is the baseline, the others are
set against it, one table per metric and question — each file size and cache state is a
question ("did this panel of paths change?") and the unit of multiple-testing correction.

Per benchmark: the median, the change as a median ratio (Hodges–Lehmann on logs) with its
95% confidence interval, a two-sided Mann–Whitney U p-value over the repetitions, a mark
where the change is significant after Holm correction within the question, and the
smallest change the comparison could have detected at its repetitions and noise (80%
power, at the strictest Holm step). A question whose repetitions are too few for any
p-value to survive Holm says so.

Examples:
  readpath compare results/2026-11-20-6.1-box results/2026-11-21-6.12-box
  readpath compare base.json new.json --metric time --fail-above 10    # for CI

--fail-above PCT asks a stricter question than significance: is a timing worse by MORE than
PCT percent, significantly (one-sided Mann–Whitney on the time shifted by PCT, Holm within
the question)? A run slowed by less, or by noise, does not fail. Timings from a TCG guest
are marked "emulated" and never fail it; hook counts are exact under any accelerator, so
their differences are marked "exact", not tested. Runs on a block device carry its
requests, merges and KiB per pass (dev_*) as counters; when the device, its I/O scheduler,
model or read_ahead_kb differ between two runs, that is said before the tables.
"""

from .. import cli, results
from ..compare import (compare, device_changes, format_ci, format_delta, legend, metric_names,
                       regressions, render)
from ..errors import UsageError

HELP = "compare runs: per-metric tables with median ratio, 95%% CI, Mann–Whitney U, Holm"


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
                             "by more than PCT percent (time per iteration, native timings)")


def run(args):
    if args.alpha <= 0 or args.alpha >= 1:
        raise UsageError("--alpha must be between 0 and 1, e.g. 0.05")
    runs = results.load_all(args.runs)
    if len(runs) < 2:
        raise UsageError("compare needs at least two runs: a baseline and one to compare")
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
    if args.fail_above is None:
        return 0
    found = regressions(runs, args.alpha, args.fail_above)
    if found:
        print(f"\nreadpath compare: {len(found)} timing(s) significantly worse by more than "
              f"{args.fail_above:g}%:")
        for label, bench, d in found:
            print(f"  {results.short_name(bench.name)} time {format_delta(d.delta_pct)} "
                  f"{format_ci(d)} in {label} (p = {d.p_beyond:.2g} that it is worse by more "
                  f"than {args.fail_above:g}%)")
        return 1
    print(f"\nNo timing is significantly worse than the baseline by more than "
          f"{args.fail_above:g}%.")
    return 0
