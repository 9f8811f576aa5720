"""Compare result runs benchmark by benchmark: the first is the baseline, the others are
set against it, one table per metric (time, throughput, faults, myfs hook counts per
iteration) with delta %, a two-sided Mann–Whitney U p-value over the repetitions, a
significance mark after Holm correction, and the geometric mean of the ratios.

Examples:
  readpath compare results/2026-11-20-6.1-box results/2026-11-21-6.12-box
  readpath compare base.json new.json --metric time --fail-above 5    # for CI

Timings from a TCG guest are marked "emulated" and never fail --fail-above; hook counts
are exact under any accelerator, so their differences are marked "exact", not tested.
"""

from dataclasses import dataclass, field

from . import results, stats
from .errors import UsageError
from .tables import markdown_table

HELP = "compare runs: per-metric tables with delta %%, Mann–Whitney U p, Holm, geomean"

# What `--metric` accepts besides myfs_<hook> names.
METRIC_ALIASES = {"time": results.TIME, "throughput": results.BYTES_PER_SECOND,
                  "bytes_per_second": results.BYTES_PER_SECOND,
                  "items_per_second": results.ITEMS_PER_SECOND,
                  **{m.key: m for m in results.FIXED_COUNTERS}}
DEFAULT_SKIP = {"items_per_second"}  # the same information as time per iteration


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RESULT",
                        help="result JSON files or run folders; the first is the baseline")
    parser.add_argument("--metric", action="append", metavar="M",
                        help="only this metric (repeatable): time, throughput, minflt, majflt, "
                             "ctxsw, items_per_second or myfs_<hook>; default: all present")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level after Holm correction (default 0.05)")
    parser.add_argument("--fail-above", type=float, metavar="PCT",
                        help="exit 1 if any timing (time, throughput) is significantly worse "
                             "than the baseline by more than PCT percent")


@dataclass
class Delta:
    value: float = None       # the other run's median
    delta_pct: float = None   # (other / base - 1) * 100
    p: float = None           # Mann–Whitney U, None when repetitions are too few
    p_adj: float = None       # after Holm over the table
    exact: bool = False       # both sides constant: a difference is exact, not sampled
    significant: bool = False
    regression: bool = False  # significant and in the worse direction


@dataclass
class Row:
    bench: results.Benchmark
    base: float
    deltas: list              # one Delta per other run (None where the run lacks it)


@dataclass
class Table:
    metric: results.Metric
    target: str
    emulated: list            # per run: timings came from TCG
    rows: list = field(default_factory=list)
    geomeans: list = field(default_factory=list)   # per other run: geomean of ratios
    repetitions: tuple = (0, 0)                    # smallest and largest sample count


def _delta(metric, base_values, other_values):
    base, other = _median(base_values), _median(other_values)
    d = Delta(value=other)
    if base is None or other is None:
        return d
    if base == 0:
        d.delta_pct = 0.0 if other == 0 else float("inf")
    else:
        d.delta_pct = (other / base - 1) * 100
    constant = len(set(base_values)) == 1 and len(set(other_values)) == 1
    if constant and not metric.timing:
        d.exact = True
        d.significant = base != other
    else:
        d.p = stats.mann_whitney(base_values, other_values)
    return d


def _median(values):
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def select_metrics(runs, names=None):
    present = {}
    for run in runs:
        for metric in run.metrics():
            present.setdefault(metric.key, metric)
    if names:
        chosen = []
        for name in names:
            metric = METRIC_ALIASES.get(name)
            if metric is None and name.startswith("myfs_") and name[5:] in results.MYFS_HOOKS:
                metric = results.hook_metric(name[5:])
            if metric is None:
                raise UsageError(f"unknown metric {name!r}; use time, throughput, minflt, "
                                 "majflt, ctxsw, items_per_second or myfs_<hook>")
            if metric.key not in present:
                raise UsageError(f"no run has values for metric {name!r}")
            chosen.append(metric)
        return chosen
    order = [m for m in runs[0].metrics() if m.key not in DEFAULT_SKIP]
    return order or list(present.values())


def common_keys(runs):
    """Baseline benchmarks (not skipped) that at least one other run also has."""
    base = runs[0]
    usable = lambda run: {k for k, b in run.benchmarks.items() if not b.skipped}
    base_keys = usable(base)
    if not base_keys:
        raise UsageError(f"every benchmark in {base.path} was skipped; nothing to compare "
                         "(the report lists why)")
    if len(runs) == 1:
        return sorted(base_keys)
    keys = set()
    for other in runs[1:]:
        shared = base_keys & usable(other)
        if not shared:
            raise UsageError(f"{other.path} has no benchmarks in common with {base.path} "
                             f"(names and filesystem type must match, e.g. "
                             f"{sorted(base_keys)[0][1]} on {sorted(base_keys)[0][0]})")
        keys |= shared
    return sorted(keys, key=sort_key)


def sort_key(key):
    target, name = key
    method, params = results.parse_name(name)
    numbers = tuple(v if isinstance(v, int) else 0 for v in params.values())
    return (target, method, numbers, name)


def compare(runs, metrics=None, alpha=0.05):
    """One Table per (target, metric) over the benchmarks the runs share."""
    keys = common_keys(runs)
    tables = []
    for target in sorted({t for t, _ in keys}):
        target_keys = [k for k in keys if k[0] == target]
        for metric in select_metrics(runs, metrics):
            table = Table(metric, target, [r.emulated(target) and metric.timing for r in runs])
            counts = []
            for key in target_keys:
                bench = runs[0].benchmarks[key]
                base_values = bench.values(metric.key)
                if not base_values:
                    continue
                if not metric.timing and not any(base_values) and not any(
                        any(o.benchmarks[key].values(metric.key)) for o in runs[1:]
                        if key in o.benchmarks):
                    continue  # a count that is zero everywhere says nothing
                counts.append(len(base_values))
                deltas = []
                for other in runs[1:]:
                    ob = other.benchmarks.get(key)
                    if ob is None or ob.skipped or not ob.values(metric.key):
                        deltas.append(None)
                        continue
                    counts.append(len(ob.values(metric.key)))
                    deltas.append(_delta(metric, base_values, ob.values(metric.key)))
                table.rows.append(Row(bench, _median(base_values), deltas))
            if not table.rows:
                continue
            table.repetitions = (min(counts), max(counts))
            for i in range(len(runs) - 1):
                column = [row.deltas[i] for row in table.rows]
                adjusted = stats.holm([d.p if d else None for d in column])
                ratios = []
                for d, p_adj in zip(column, adjusted):
                    if d is None:
                        continue
                    d.p_adj = p_adj
                    if p_adj is not None:
                        d.significant = p_adj < alpha
                    worse = d.delta_pct is not None and (
                        d.delta_pct < 0 if metric.higher_is_better else d.delta_pct > 0)
                    d.regression = d.significant and worse
                    if d.delta_pct is not None and d.delta_pct != float("inf"):
                        ratios.append(1 + d.delta_pct / 100)
                table.geomeans.append(stats.geomean(ratios))
            tables.append(table)
    return tables


def format_delta(pct):
    if pct is None:
        return "-"
    if pct == float("inf"):
        return "new"
    return f"{pct:+.1f}%"


def format_p(d):
    if d.exact:
        return "exact"
    if d.p is None:
        return f"n<{stats.MIN_REPETITIONS}"
    return f"{d.p:.3f}" if d.p >= 0.001 else f"{d.p:.0e}"


def render(table, runs, alpha=0.05):
    """A titled Markdown table for one metric, with a geomean line and a legend."""
    metric = table.metric
    unit = f" ({metric.unit})" if metric.unit else ""
    title = f"### {metric.title}{unit} on {table.target}"
    if any(table.emulated):
        marked = ", ".join(r.label for r, e in zip(runs, table.emulated) if e)
        title += f" — emulated timings (TCG) in: {marked}"
    headers = ["benchmark", runs[0].label]
    for other in runs[1:]:
        headers += [other.label, "Δ", "p", ""]
    lines = []
    for row in table.rows:
        cells = [results.short_name(row.bench.name), results.format_value(row.base, metric.unit)]
        for d in row.deltas:
            if d is None:
                cells += ["-", "-", "-", ""]
                continue
            mark = ""
            if d.exact and d.significant:
                mark = "more" if d.delta_pct > 0 else "fewer"   # counts: neither good nor bad
            elif d.regression:
                mark = "*worse"
            elif d.significant:
                mark = "*better"
            cells += [results.format_value(d.value, metric.unit), format_delta(d.delta_pct),
                      format_p(d), mark]
        lines.append(cells)
    if len(runs) > 1:
        geo = []
        for g in table.geomeans:
            geo += ["-", "", "", ""] if g is None else [f"×{g:.3f}", format_delta((g - 1) * 100), "", ""]
        lines.append(["geometric mean of ratios", "×1.000"] + geo)
    align = "lr" + "rrrl" * (len(runs) - 1)
    return "\n".join([title, "", markdown_table(headers, lines, align)])


def legend(tables, alpha):
    lo = min((t.repetitions[0] for t in tables), default=0)
    hi = max((t.repetitions[1] for t in tables), default=0)
    reps = f"{lo}" if lo == hi else f"{lo}–{hi}"
    text = (f"Values are medians over the repetitions ({reps} per benchmark). Δ is the change "
            f"from the baseline; p is a two-sided Mann–Whitney U test over the repetitions; "
            f"`*` marks a difference significant after Holm correction at α = {alpha} "
            f"(better/worse by the metric's direction). Counts that are constant on both "
            f"sides are compared exactly (more/fewer).")
    tests = max((len(t.rows) for t in tables if t.metric.timing), default=0)
    floor = stats.smallest_p(lo, lo)
    if lo >= stats.MIN_REPETITIONS and tests and floor * tests >= alpha:
        text += (f" With {lo} repetitions the smallest possible p is {floor:.2g}, so after "
                 f"Holm over {tests} benchmarks nothing can be significant: rerun with more "
                 f"repetitions (the default profile runs 8) or compare runs of a narrower "
                 f"suite.")
    if lo < stats.MIN_REPETITIONS:
        text += (f" `n<{stats.MIN_REPETITIONS}`: too few repetitions for a p-value; rerun "
                 f"with more (readpath run without --quick, or "
                 f"--benchmark_repetitions={stats.MIN_REPETITIONS * 2}).")
    return text


def run(args):
    if args.alpha <= 0 or args.alpha >= 1:
        raise UsageError("--alpha must be between 0 and 1, e.g. 0.05")
    if args.fail_above is not None and args.fail_above < 0:
        raise UsageError("--fail-above takes a percentage ≥ 0, e.g. 5")
    runs = results.load_all(args.runs)
    if len(runs) < 2:
        raise UsageError("compare needs at least two runs: a baseline and one to compare")
    tables = compare(runs, args.metric, args.alpha)
    if not tables:
        raise UsageError("the runs share no metric with values; try without --metric")
    print(f"Baseline: {runs[0].label} ({runs[0].path})")
    for other in runs[1:]:
        print(f"Compared: {other.label} ({other.path})")
    for table in tables:
        print()
        print(render(table, runs, args.alpha))
    print()
    print(legend(tables, args.alpha))
    if args.fail_above is None:
        return 0
    regressions = []
    for table in tables:
        if not table.metric.timing:
            continue
        for row in table.rows:
            for other, d, emulated in zip(runs[1:], row.deltas, table.emulated[1:]):
                if d is None or not d.regression or emulated or table.emulated[0]:
                    continue
                if abs(d.delta_pct) > args.fail_above:
                    regressions.append(f"{results.short_name(row.bench.name)} {table.metric.title} "
                                       f"{format_delta(d.delta_pct)} in {other.label}")
    if regressions:
        print(f"\nreadpath compare: {len(regressions)} significant regression(s) above "
              f"{args.fail_above:g}%:")
        for line in regressions:
            print(f"  {line}")
        return 1
    print(f"\nNo significant timing regression above {args.fail_above:g}%.")
    return 0
