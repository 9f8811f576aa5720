"""Result runs compared cell by cell, one table per metric and question (file size and
cache state); what the tables hold is `readpath compare`'s description (commands/compare.py).
compare() builds the tables, render() and legend() print them, regressions() is --fail-above.

Latency percentiles per request (lat_p50_ns, lat_p99_ns by default; the others with
--metric) are timings: tested with the same design as time (rank test on the repetitions'
values, Holm within the question, marked emulated under TCG) and shown, but --fail-above
stays on time per iteration alone. A p99 is a few requests of one pass: it moves with the
machine's hiccups far more than a pass's time does, and a gate that fails on it would fail
on noise; what a moved tail means is told by the findings, beside the hook counts."""

import math
from dataclasses import dataclass, field

from . import results, stats
from .errors import UsageError
from .tables import markdown_table

# What `--metric` accepts besides myfs_<hook> names.
METRIC_ALIASES = {"time": results.TIME, "throughput": results.BYTES_PER_SECOND,
                  "bytes_per_second": results.BYTES_PER_SECOND,
                  "items_per_second": results.ITEMS_PER_SECOND,
                  **{m.key: m for m in results.FIXED_COUNTERS},
                  **{m.key: m for m in results.LATENCY_METRICS},
                  **{m.key: m for m in results.DEVICE_COUNTERS}}
# items_per_second is the same information as time per iteration; of the latency pass, the
# median and the tail (p50, p99) are compared unless asked for the rest.
DEFAULT_SKIP = {"items_per_second", "lat_p90_ns", "lat_p999_ns", "lat_max_ns", "lat_mean_ns",
                "lat_count"}
POWER = 0.8


def metric_names():
    """What --metric accepts, for help and errors."""
    return ", ".join(METRIC_ALIASES) + " or myfs_<hook>"


@dataclass
class Delta:
    value: float = None       # the other run's median
    ratio: float = None       # other / base: median ratio (Hodges–Lehmann on logs)
    low: float = None         # 95% confidence interval of the ratio
    high: float = None
    p: float = None           # two-sided Mann–Whitney U; None when repetitions are too few
    p_adj: float = None       # after Holm within the question
    exact: bool = False       # both sides constant: a difference is exact, not sampled
    significant: bool = False
    regression: bool = False  # significant and in the worse direction
    detectable: float = None  # smallest relative change this comparison could detect
    p_beyond: float = None    # one-sided: worse by more than --fail-above (Holm-adjusted)
    beyond: bool = False      # significantly worse by more than --fail-above

    @property
    def delta_pct(self):
        if self.ratio is None:
            return None
        return math.inf if self.ratio == math.inf else (self.ratio - 1) * 100


@dataclass
class Row:
    bench: results.Benchmark
    base: float
    deltas: list              # one Delta per other run (None where the run lacks it)


@dataclass
class Table:
    metric: results.Metric
    target: str
    question: tuple           # (file bytes, warm) the rows share
    emulated: list            # per run: timings came from TCG
    alpha: float = 0.05       # significance level after Holm within this table
    min_effect: float = 0.0   # percent: smaller changes are not called significant
    rows: list = field(default_factory=list)
    geomeans: list = field(default_factory=list)   # per other run: geomean of ratios
    repetitions: tuple = (0, 0)                    # smallest and largest sample count

    @property
    def question_name(self):
        file, warm = self.question
        size = results.format_size(file) if file is not None else "any size"
        state = {1: "warm", 0: "cold"}.get(warm, "any cache state")
        return f"file {size}, {state}"

    def column(self, i):
        return [row.deltas[i] for row in self.rows if row.deltas[i] is not None]


def question_of(bench):
    """The question a benchmark belongs to: its file size and cache state (a chart panel)."""
    return (bench.params.get("file"), bench.params.get("warm"))


def _ratio(metric, base_values, other_values, d):
    """Fills ratio and its interval: on logs for positive samples, else medians."""
    base, other = stats.median(base_values), stats.median(other_values)
    if metric.timing or (min(base_values) > 0 and min(other_values) > 0 and not d.exact):
        d.ratio, d.low, d.high = stats.ratio_ci(base_values, other_values)
        if d.ratio is not None:
            return
    if base == 0:
        d.ratio = 1.0 if other == 0 else math.inf
    else:
        d.ratio = other / base


def _delta(metric, base_values, other_values, margin):
    d = Delta(value=stats.median(other_values))
    constant = len(set(base_values)) == 1 and len(set(other_values)) == 1
    if constant and not metric.timing:
        d.exact = True
        d.significant = base_values[0] != other_values[0]
    else:
        d.p = stats.shifted_p(base_values, other_values, margin)
    _ratio(metric, base_values, other_values, d)
    return d


def _beyond_p(metric, base_values, other_values, pct):
    """One-sided p that the other run is worse than the baseline by more than pct %."""
    worse = "less" if metric.higher_is_better else "greater"
    return stats.shifted_p(base_values, other_values, pct / 100, worse)


def select_metrics(runs, names=None):
    present = {}
    for run in runs:
        for metric in run.metrics():
            present.setdefault(metric.key, metric)
    if names:
        chosen = []
        for name in names:
            metric = METRIC_ALIASES.get(name)
            if metric is None and name.startswith(results.HOOK_PREFIX) and \
                    name[len(results.HOOK_PREFIX):] in results.hook_order(runs):
                metric = results.hook_metric(name[len(results.HOOK_PREFIX):])
            if metric is None:
                raise UsageError(f"unknown metric {name!r}; use {metric_names()}")
            if metric.key not in present:
                raise UsageError(f"no run has values for metric {name!r}")
            chosen.append(metric)
        return chosen
    order = [m for m in runs[0].metrics() if m.key not in DEFAULT_SKIP]
    return order or list(present.values())


def device_changes(runs):
    """One sentence per other run and target whose block device differs from the
    baseline's (device, I/O scheduler, model, read_ahead_kb, or a block device on one side
    only): changes in the device counters and cold timings may then be the device's."""
    lines = []
    base = runs[0]
    for other in runs[1:]:
        for target in sorted(set(base.targets()) & set(other.targets())):
            before, after = base.device(target), other.device(target)
            if before == after:
                continue
            if not before or not after:
                where = lambda run, dev: (f"{run.label} on block device {dev['block_device']}"
                                          if dev else f"{run.label} on no block device")
                what = f"{where(base, before)}, {where(other, after)}"
            else:
                what = ", ".join(f"{title} {before[key]} → {after[key]}"
                                 for key, title in results.DEVICE_CONTEXT
                                 if before[key] != after[key])
            lines.append(f"{other.label} vs {base.label} on {target}: the device changed "
                         f"({what}); a difference in device requests, merges or cold timings "
                         "may be the device's, not the kernel's.")
    return lines


def common_keys(runs):
    """Baseline benchmarks (not skipped) that at least one other run also has."""
    base = runs[0]
    usable = lambda run: {k for k, b in run.benchmarks.items() if not b.skipped}   # noqa: E731
    base_keys = usable(base)
    if not base_keys:
        raise UsageError(f"every benchmark in {base.path} was skipped; nothing to compare "
                         "(the report lists why)")
    if len(runs) == 1:
        return sorted(base_keys, key=results.sort_key)
    keys = set()
    for other in runs[1:]:
        shared = base_keys & usable(other)
        if not shared:
            example = sorted(base_keys)[0]
            raise UsageError(f"{other.path} has no benchmarks in common with {base.path} "
                             f"(names and filesystem type must match, e.g. "
                             f"{example[1]} on {example[0]})")
        keys |= shared
    return sorted(keys, key=results.sort_key)


def _table(runs, metric, target, question, keys, alpha, fail_above, min_effect):
    table = Table(metric, target, question, [r.emulated(target) and metric.timing for r in runs],
                  alpha, min_effect)
    counts = []
    for key in keys:
        base_values = runs[0].benchmarks[key].values(metric.key)
        if not base_values:
            continue
        others = [o.benchmarks.get(key) for o in runs[1:]]
        if not metric.timing and not any(base_values) and not any(
                any(o.values(metric.key)) for o in others if o is not None):
            continue  # a count that is zero everywhere says nothing
        counts.append(len(base_values))
        deltas = []
        for ob in others:
            if ob is None or ob.skipped or not ob.values(metric.key):
                deltas.append(None)
                continue
            other_values = ob.values(metric.key)
            counts.append(len(other_values))
            d = _delta(metric, base_values, other_values, min_effect / 100)
            if metric.timing and fail_above is not None:
                d.p_beyond = _beyond_p(metric, base_values, other_values, fail_above)
            deltas.append(d)
        table.rows.append(Row(runs[0].benchmarks[key], stats.median(base_values), deltas))
    if not table.rows:
        return None
    table.repetitions = (min(counts), max(counts))
    for i, other in enumerate(runs[1:]):
        column = [row.deltas[i] for row in table.rows]
        tested = sum(1 for d in column if d is not None and d.p is not None)
        strictest = alpha / max(1, tested)   # Holm's first step: what every change must beat
        adjusted = stats.holm([d.p if d else None for d in column])
        for row, d, p_adj in zip(table.rows, column, adjusted):
            if d is None or d.exact:
                continue
            d.p_adj = p_adj
            d.significant = p_adj is not None and p_adj < alpha
            d.detectable = stats.detectable_change(
                row.bench.values(metric.key), other.benchmarks[row.bench.key].values(metric.key),
                strictest, margin=min_effect / 100)
        for d, p_adj in zip(column, stats.holm([d.p_beyond if d else None for d in column])):
            if d is not None and p_adj is not None:
                d.p_beyond, d.beyond = p_adj, p_adj < alpha
        for d in column:
            if d is not None and d.significant and d.delta_pct is not None:
                d.regression = d.delta_pct < 0 if metric.higher_is_better else d.delta_pct > 0
        table.geomeans.append(stats.geomean(
            [d.ratio for d in column if d is not None and d.ratio not in (None, math.inf)]))
    return table


def compare(runs, metrics=None, alpha=0.05, fail_above=None, min_effect=0.0):
    """One Table per (target, metric, question) over the benchmarks the runs share. A
    change is significant when it is beyond min_effect percent with confidence."""
    keys = common_keys(runs)
    tables = []
    for target in sorted({t for t, _ in keys}):
        target_keys = [k for k in keys if k[0] == target]
        questions = {}
        for key in target_keys:
            questions.setdefault(question_of(runs[0].benchmarks[key]), []).append(key)
        for metric in select_metrics(runs, metrics):
            for question in sorted(questions, key=_question_order):
                table = _table(runs, metric, target, question, questions[question], alpha,
                               fail_above, min_effect)
                if table:
                    tables.append(table)
    return tables


def _question_order(question):
    file, warm = question
    return (-(warm if isinstance(warm, int) else 1), file if isinstance(file, int) else 0)


def format_delta(pct):
    if pct is None:
        return "-"
    if pct == math.inf:
        return "new"
    return f"{pct:+.1f}%"


def format_ci(d):
    if d.low is None or d.high is None:
        return ""
    return f"[{format_delta((d.low - 1) * 100)}, {format_delta((d.high - 1) * 100)}]"


def format_p(d):
    if d.exact:
        return "exact"
    if d.p is None:
        return f"n<{stats.MIN_REPETITIONS}"
    return f"{d.p:.3f}" if d.p >= 0.001 else f"{d.p:.0e}"


def format_detectable(value):
    if value is None:
        return "-"
    if value == math.inf:
        return "none"
    return f"±{value * 100:.0f}%" if value >= 0.1 else f"±{value * 100:.1f}%"


def mark(d):
    if d.exact and d.significant:
        return "more" if d.delta_pct > 0 else "fewer"   # counts: neither good nor bad
    if d.regression:
        return "*worse"
    if d.significant:
        return "*better"
    return ""


def render(table, runs):
    """A titled Markdown table for one metric and question, with a geomean line and what
    the comparison could detect."""
    metric = table.metric
    unit = f" ({metric.unit})" if metric.unit else ""
    title = f"### {metric.title}{unit} on {table.target}, {table.question_name}"
    if any(table.emulated):
        marked = ", ".join(r.label for r, e in zip(runs, table.emulated) if e)
        title += f" — emulated timings (TCG) in: {marked}"
    headers = ["benchmark", runs[0].label]
    sampled = any(not d.exact for i in range(len(runs) - 1) for d in table.column(i))
    per_other = ["Δ", "95% CI", "p", "detectable", ""] if sampled else ["Δ", "p", ""]
    for other in runs[1:]:
        headers += [other.label, *per_other]
    lines = []
    for row in table.rows:
        cells = [results.short_name(row.bench.name), results.format_value(row.base, metric.unit)]
        for d in row.deltas:
            if d is None:
                cells += ["-"] * (len(per_other) + 1)
                continue
            cells += [results.format_value(d.value, metric.unit), format_delta(d.delta_pct)]
            if sampled:
                cells += [format_ci(d), format_p(d), format_detectable(d.detectable), mark(d)]
            else:
                cells += [format_p(d), mark(d)]
        lines.append(cells)
    if len(runs) > 1:
        geo = []
        for g in table.geomeans:
            blank = [""] * (len(per_other) - 1)
            geo += ["-", *blank, ""] if g is None else [f"×{g:.3f}", format_delta((g - 1) * 100),
                                                        *blank]
        lines.append(["geometric mean of ratios", "×1.000"] + geo)
    align = "lr" + ("rr" + "r" * (len(per_other) - 1)) * (len(runs) - 1)
    align = align[:-1] + "l" if len(runs) > 1 else align
    text = [title, "", markdown_table(headers, lines, align)]
    note = power_note(table, runs)
    if note:
        text += ["", note]
    return "\n".join(text)


def power_note(table, runs):
    """What this table could have seen: one sentence per compared run."""
    if not table.metric.timing and all(d.exact for i in range(len(runs) - 1)
                                       for d in table.column(i)):
        return ""
    notes = []
    for i, other in enumerate(runs[1:]):
        column = [d for d in table.column(i) if not d.exact]
        if not column:
            continue
        lo, _ = table.repetitions
        tested = sum(1 for d in column if d.p is not None)
        who = f"{other.label} vs {runs[0].label}: " if len(runs) > 2 else ""
        if tested == 0:
            notes.append(f"{who}too few repetitions for a p-value (fewer than "
                         f"{stats.MIN_REPETITIONS}); rerun with more")
            continue
        floor = stats.smallest_p(lo, lo)
        if floor > table.alpha / tested:
            notes.append(f"{who}with {lo} repetitions the smallest possible p is {floor:.2g}, "
                         f"above {table.alpha:g}/{tested} (Holm over {tested} "
                         f"benchmarks): this comparison could detect nothing; rerun with "
                         f"more repetitions or compare fewer benchmarks")
            continue
        finite = sorted(d.detectable for d in column
                        if d.detectable is not None and d.detectable != math.inf)
        if finite:
            mid = stats.median(finite)
            notes.append(f"{who}smallest detectable change {format_detectable(mid)} (median "
                         f"over {len(finite)} benchmarks; {format_detectable(finite[0])} to "
                         f"{format_detectable(finite[-1])}) at {lo} repetitions, 80% power, "
                         f"Holm over {tested}")
    return ("Detectable: " + "; ".join(notes) + ".") if notes else ""


def legend(tables, alpha):
    lo = min((t.repetitions[0] for t in tables), default=0)
    hi = max((t.repetitions[1] for t in tables), default=0)
    reps = f"{lo}" if lo == hi else f"{lo}–{hi}"
    margin = max((t.min_effect for t in tables), default=0)
    beyond = (f" Only changes beyond ±{margin:g}% are tested for (--min-effect): p is for a "
              f"change larger than that.") if margin else ""
    return (f"Values are medians over the repetitions ({reps} per benchmark). Δ is the median "
            f"ratio to the baseline (Hodges–Lehmann on logs) with its 95% confidence "
            f"interval; p is a two-sided Mann–Whitney U test over the repetitions; `*` marks a "
            f"change significant after Holm correction at α = {alpha} within its table (one "
            f"file size and cache state: one question). \"detectable\" is the smallest change "
            f"that comparison would flag with 80% power at its repetitions and noise (\"none\": "
            f"too few repetitions). Counts that are constant on both sides are compared "
            f"exactly (more/fewer).{beyond}")


def regressions(runs, alpha, pct):
    """[(run label, benchmark, Delta)] for native timings significantly worse by > pct %."""
    found = []
    for table in compare(runs, ["time"], alpha, fail_above=pct):
        if table.emulated[0]:
            continue
        for row in table.rows:
            for other, d, emulated in zip(runs[1:], row.deltas, table.emulated[1:]):
                if d is not None and d.beyond and not emulated:
                    found.append((other.label, row.bench, d))
    return found
