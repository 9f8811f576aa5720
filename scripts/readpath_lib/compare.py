"""Result runs compared cell by cell, one table per metric and question (file size and
cache state); what the tables hold is `readpath compare`'s description (commands/compare.py).
compare() builds the tables, render() and legend() print them, gate() is --fail-above,
self_check() sets a run's rounds against each other.

The unit is the round (stats.py): a cell's repetitions are summarised per round first, and
timings are compared on the rounds' log medians with Welch's t-test — paired round by round
when both runs come from one interleaved session (the configurations of compare-options) —
counts that vary between rounds with the exact conditional Mann–Whitney U. Marks are
Holm-corrected within a question; --fail-above is one family over every gated cell of the
comparison. Reference cells (the engine's baseline family: memcpy, no kernel) are shown and
tested, but as the machine's own movement: never gated, never in a geometric mean.

Latency percentiles per request (lat_p50_ns, lat_p99_ns by default) are timings compared
alike but never gated: a p99 is a few requests of one pass and moves with the machine's
hiccups; what a moved tail means is told by the findings, beside the hook counts."""

import math
from dataclasses import dataclass, field

from . import results, stats
from .errors import UsageError
from .tables import markdown_table

# What `--metric` accepts besides myfs_<hook> names.
METRIC_ALIASES = {"time": results.TIME, "cpu": results.CPU_TIME,
                  "throughput": results.BYTES_PER_SECOND,
                  "bytes_per_second": results.BYTES_PER_SECOND,
                  "items_per_second": results.ITEMS_PER_SECOND,
                  **{m.key: m for m in [results.CPU_TIME, *results.WAIT_METRICS]},
                  **{m.key: m for m in results.FIXED_COUNTERS},
                  **{m.key: m for m in results.COUNTED_METRICS},
                  **{m.key: m for m in results.PMU_METRICS},
                  **{m.key: m for m in results.LATENCY_METRICS},
                  **{m.key: m for m in results.DEVICE_COUNTERS}}
# items_per_second is the same information as time per iteration; of the latency pass, the
# median and the tail (p50, p99) are compared unless asked for the rest; of the
# instructions (counted or the PMU's), their total (kernel and user apart when asked for)
# and the PMU's cycles; the run-queue wait and the steal say why a timing moved, they are
# not costs.
DEFAULT_SKIP = {"items_per_second", "kernel_instructions_per_request",
                "user_instructions_per_request", "interrupt_instructions_per_request",
                "pmu_kernel_instructions_per_request",
                "pmu_user_instructions_per_request", "pmu_kernel_cycles_per_request",
                "lat_p90_ns", "lat_p999_ns", "lat_max_ns", "lat_mean_ns",
                "lat_count", "runq_ns", "steal_ns"}
# The metrics --fail-above may gate on: costs of a pass, native only.
GATED = ("time", "cpu_ns")


def metric_names():
    """What --metric accepts, for help and errors."""
    return ", ".join(METRIC_ALIASES) + " or myfs_<hook>"


@dataclass
class Delta:
    value: float = None       # the other run's value: geometric mean of its rounds' medians
    ratio: float = None       # other / base
    low: float = None         # 95% confidence interval of the ratio (t, over rounds)
    high: float = None
    p: float = None           # two-sided; None with fewer than stats.MIN_ROUNDS rounds a side
    p_adj: float = None       # after Holm within the question
    exact: bool = False       # a hook count constant on both sides: the difference is exact
    # Counted instructions: near-exact, so a change beyond their A/A spread
    # (results.COUNTED_SPREAD) is significant, with no test.
    counted: bool = False
    # Another count constant in every repetition on both sides (2 or more each): said as
    # such where there are too few rounds to test it, never called significant.
    constant: bool = False
    significant: bool = False
    regression: bool = False  # significant and in the worse direction
    detectable: float = None  # smallest relative change with 80% power at the table's Holm step
    p_beyond: float = None    # one-sided: worse by more than --fail-above (Holm over the gate)
    beyond: bool = False      # significantly worse by more than --fail-above
    rounds: tuple = (0, 0)    # rounds on each side
    paired: bool = False      # rounds paired (one interleaved session)
    shift: tuple = None       # (estimate, standard error, df) of the log difference
    reference: bool = False   # a reference cell: the machine's own movement

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

    @property
    def reference(self):
        return bool(self.deltas) and any(d is not None and d.reference for d in self.deltas)


@dataclass
class Table:
    metric: results.Metric
    target: str
    question: tuple           # (file bytes, warm) the rows share
    emulated: list            # per run: timings came from TCG
    alpha: float = 0.05       # significance level after Holm within this table
    min_effect: float = 0.0   # percent: smaller changes are not called significant
    rows: list = field(default_factory=list)
    geomeans: list = field(default_factory=list)   # per other run: (geomean, paths, left out)
    rounds: tuple = (0, 0)                         # fewest and most rounds of a cell

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


def paired(base_run, other_run):
    """The rounds two runs share when they come from one interleaved session (each round
    ran both, in counterbalanced order), else None: runs taken apart are not paired."""
    if base_run.session is None or base_run.session != other_run.session:
        return None
    common = [r for r in base_run.round_ids() if r in set(other_run.round_ids())]
    return common if len(common) >= stats.MIN_ROUNDS else None


def _logged(metric):
    """Compared as ratios on the log scale: timings and rates."""
    return metric.timing


def _round_lists(bench, key, rounds=None):
    """The values of each round (only `rounds`, in that order, when given)."""
    grouped = bench.by_round(key)
    if rounds is None:
        return list(grouped.values())
    return [grouped.get(r, []) for r in rounds]


def timing_delta(metric, base, other, pairs, margin=0.0):
    """The Delta of a timing or rate between two cells, on the rounds' log medians."""
    a = stats.round_values(_round_lists(base, metric.key, pairs), log=True)
    b = stats.round_values(_round_lists(other, metric.key, pairs), log=True)
    if not a or not b:
        return None
    d = Delta(value=math.exp(stats.mean(b)), rounds=(len(a), len(b)), paired=pairs is not None)
    diff = stats.difference(a, b, paired=pairs is not None)
    if diff is None:
        d.ratio = math.exp(stats.mean(b) - stats.mean(a))
        return d
    estimate, se, df = diff
    d.shift = diff
    low, high = stats.t_interval(estimate, se, df)
    d.ratio, d.low, d.high = math.exp(estimate), math.exp(low), math.exp(high)
    d.p = stats.t_p(estimate, se, df, shift=math.log1p(margin))
    return d


def _undisturbed(bench, key):
    """A counted metric's values from the repetitions whose timed passes had no context
    switch of the reader (while it is switched out, its vCPU runs another task, which is
    counted too); [] when none had none, or the counters do not line up."""
    values, switches = bench.values(key), bench.values("ctxsw")
    if len(values) != len(switches):
        return []
    return [v for v, c in zip(values, switches) if c == 0]


def _count_delta(metric, base, other, margin):
    base_values, other_values = base.values(metric.key), other.values(metric.key)
    a = stats.round_values(_round_lists(base, metric.key), log=False)
    b = stats.round_values(_round_lists(other, metric.key), log=False)
    if metric in results.COUNTED_METRICS:
        a, b = _undisturbed(base, metric.key) or a, _undisturbed(other, metric.key) or b
    d = Delta(value=stats.median(b), rounds=(len(a), len(b)))
    constant = len(base_values) >= 2 and len(other_values) >= 2 and \
        len(set(base_values)) == 1 and len(set(other_values)) == 1
    if metric in results.COUNTED_METRICS:
        d.counted = True
    elif constant and metric.key.startswith(results.HOOK_PREFIX):
        # myfs counts the calls exactly: the same count in every repetition is the count.
        d.exact = True
        d.significant = base_values[0] != other_values[0]
    else:
        d.constant = constant
        d.p = _shifted_ranks(a, b, margin)
    base_mid = stats.median(a)
    d.ratio = (1.0 if d.value == 0 else math.inf) if base_mid == 0 else d.value / base_mid
    if d.counted:
        d.significant = abs(d.ratio - 1) > max(results.COUNTED_SPREAD, margin)
    return d


def _shifted_ranks(a, b, margin):
    """Mann–Whitney p that b differs from a by more than a relative margin."""
    if margin == 0:
        return stats.mann_whitney(a, b)
    up = stats.mann_whitney(a, [v / (1 + margin) for v in b], "greater")
    down = stats.mann_whitney(a, [v * (1 + margin) for v in b], "less")
    return None if up is None else min(1.0, 2 * min(up, down))


def _delta(metric, base, other, pairs, margin):
    positive = min(base.values(metric.key)) > 0 and min(other.values(metric.key)) > 0
    if _logged(metric) and positive:
        return timing_delta(metric, base, other, pairs, margin)
    return _count_delta(metric, base, other, margin)   # (a device time of 0 ms included)


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


def is_reference(run, bench):
    """A reference cell: the engine's baseline family (memcpy), which involves no kernel."""
    return run.traits(bench.method).get("family") == "baseline"


def mark(deltas, alpha, timing):
    """Holm within one family of deltas (a question's read paths, or its reference cells):
    significance, and for timings the change detectable with 80% power at Holm's first step
    (the threshold a single changed cell must pass)."""
    tested = [d for d in deltas if not d.exact and d.p is not None]
    strictest = alpha / max(1, len(tested))
    for d, p_adj in zip(tested, stats.holm([d.p for d in tested])):
        d.p_adj, d.significant = p_adj, p_adj < alpha
    if timing:
        for d in deltas:
            if d.shift is not None:
                shift = stats.detectable_shift(d.shift[1], d.shift[2], strictest)
                d.detectable = None if shift is None else math.expm1(shift)


def _table(runs, metric, target, question, keys, alpha, min_effect):
    table = Table(metric, target, question, [r.emulated(target) and metric.timing for r in runs],
                  alpha, min_effect)
    pairs = [paired(runs[0], other) for other in runs[1:]]
    counts = []
    for key in keys:
        base = runs[0].benchmarks[key]
        if not base.values(metric.key):
            continue
        others = [o.benchmarks.get(key) for o in runs[1:]]
        if not metric.timing and not any(base.values(metric.key)) and not any(
                any(o.values(metric.key)) for o in others if o is not None):
            continue  # a count that is zero everywhere says nothing
        reference = is_reference(runs[0], base)
        deltas = []
        for other, pair in zip(others, pairs):
            if other is None or other.skipped or not other.values(metric.key):
                deltas.append(None)
                continue
            d = _delta(metric, base, other, pair, min_effect / 100)
            if d is not None:
                d.reference = reference
                counts += list(d.rounds)
            deltas.append(d)
        if metric.timing:
            centre = base.estimate(metric)
        else:
            centre = stats.estimate(_round_lists(base, metric.key), log=False)
        table.rows.append(Row(base, centre.value if centre else None, deltas))
    if not table.rows:
        return None
    table.rounds = (min(counts), max(counts)) if counts else (0, 0)
    for i in range(len(runs) - 1):
        column = [(row, row.deltas[i]) for row in table.rows if row.deltas[i] is not None]
        paths = [d for row, d in column if not d.reference]
        mark(paths, alpha, metric.timing)
        mark([d for row, d in column if d.reference], alpha, metric.timing)
        for _, d in column:
            if d.significant and d.delta_pct is not None and not d.exact:
                d.regression = d.delta_pct < 0 if metric.higher_is_better else d.delta_pct > 0
        ratios = [d.ratio for d in paths if d.ratio not in (None, math.inf) and d.ratio > 0]
        table.geomeans.append((stats.geomean(ratios), len(ratios), len(column) - len(ratios)))
    return table


def compare(runs, metrics=None, alpha=0.05, min_effect=0.0):
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
                               min_effect)
                if table:
                    tables.append(table)
    return tables


def _question_order(question):
    file, warm = question
    return (-(warm if isinstance(warm, int) else 1), file if isinstance(file, int) else 0)


# ---------------------------------------------------------------- the gate: --fail-above

@dataclass
class Gate:
    pct: float
    metric: results.Metric
    cells: int = 0                # gated cells tested: native, not reference
    untested: int = 0             # gated cells with too few rounds for a test
    found: list = field(default_factory=list)   # [(run label, Benchmark, Delta)]
    detectable: float = None      # median slowdown beyond pct the gate detects (80% power)


def gate(runs, alpha, pct, metric_key="time"):
    """Which native timings are worse than the baseline by more than pct %, one-sided and
    Holm-corrected over every gated cell of the comparison (all questions and runs at once):
    so the chance that anything fails an A/A comparison is at most alpha."""
    metric = METRIC_ALIASES.get(metric_key, results.TIME)
    result = Gate(pct, metric)
    family = []
    for table in compare(runs, [metric_key], alpha):
        if table.emulated[0]:
            continue
        for row in table.rows:
            for other, d, emulated in zip(runs[1:], row.deltas, table.emulated[1:]):
                if d is not None and not d.reference and not emulated:
                    family.append((other.label, row.bench, d))
    tested = [(label, bench, d) for label, bench, d in family if d.shift is not None]
    result.cells, result.untested = len(tested), len(family) - len(tested)
    result.detectable = gate_family([d for _, _, d in tested], alpha, pct,
                                    metric.higher_is_better)
    result.found = [(label, bench, d) for label, bench, d in tested if d.beyond]
    return result


def gate_family(deltas, alpha, pct, higher_is_better=False):
    """Sets p_beyond (Holm-adjusted) and beyond on every delta of one gate's family: worse by
    more than pct %, one-sided. Returns the median over the family of the slowdown each cell
    would reveal with 80% power at Holm's first step."""
    for d in deltas:
        estimate, se, df = d.shift
        d.p_beyond = stats.t_p(-estimate if higher_is_better else estimate, se, df,
                               shift=math.log1p(pct / 100), alternative="greater")
    for d, p_adj in zip(deltas, stats.holm([d.p_beyond for d in deltas])):
        d.p_beyond, d.beyond = p_adj, p_adj < alpha
    strictest = alpha / max(1, len(deltas))
    shifts = [stats.detectable_shift(d.shift[1], d.shift[2], strictest, two_sided=False)
              for d in deltas]
    return stats.median([(1 + pct / 100) * math.exp(s) - 1 for s in shifts if s is not None])


# ---------------------------------------------------------------- a run against itself

@dataclass
class SelfCheck:
    """A run's rounds set against each other: interleaved (odd against even rounds: what
    noise alone marks) and in time (first half against second half: what the machine's
    drift during the run marks, as it would between two runs taken one after the other)."""
    rounds: int
    cells: int = 0
    interleaved: int = 0          # cells marked, odd vs even
    interleaved_questions: tuple = (0, 0)   # (questions with a mark, questions)
    halves: int = 0               # cells marked, first half vs second half
    drift: float = None           # median |first/second − 1| of the cells' ratios
    reference_drift: float = None  # the reference cells' geometric mean ratio, second/first


def split_rounds(run, how="interleaved"):
    """Two runs made of one run's numbered rounds, taken apart (not paired): its odd and
    even rounds ("interleaved"), or its first and second half ("halves"); None with fewer
    than 2 × stats.MIN_ROUNDS of them."""
    rounds = [r for r in run.round_ids() if isinstance(r, int)]
    if len(rounds) < 2 * stats.MIN_ROUNDS:
        return None
    half = len(rounds) // 2
    first, second, names = ((rounds[0::2], rounds[1::2], ("odd rounds", "even rounds"))
                            if how == "interleaved" else
                            (rounds[:half], rounds[half:], ("first half", "second half")))
    parts = [run.subset(first, f"{run.label}, {names[0]}"),
             run.subset(second, f"{run.label}, {names[1]}")]
    for part in parts:
        part.session = None   # two sets of rounds, not pairs
    return parts


def self_check(run, alpha=0.05, metric_key="time"):
    """None when the run has fewer than 2 × stats.MIN_ROUNDS numbered rounds."""
    rounds = [r for r in run.round_ids() if isinstance(r, int)]
    if len(rounds) < 2 * stats.MIN_ROUNDS:
        return None
    check = SelfCheck(len(rounds))
    for name in ("interleaved", "halves"):
        runs = split_rounds(run, name)
        tables = [t for t in compare(runs, [metric_key], alpha) if not t.emulated[0]]
        marked = [(t, d) for t in tables for d in t.column(0) if d.significant and not d.reference]
        if name == "interleaved":
            check.cells = sum(1 for t in tables for d in t.column(0) if not d.reference)
            check.interleaved = len(marked)
            check.interleaved_questions = (len({id(t) for t, _ in marked}), len(tables))
        else:
            check.halves = len(marked)
            moves = [abs(d.ratio - 1) for t in tables for d in t.column(0)
                     if not d.reference and d.ratio not in (None, math.inf)]
            check.drift = stats.median(moves)
            check.reference_drift = stats.geomean(
                [d.ratio for t in tables for d in t.column(0) if d.reference])
    return check


def describe_self_check(check, label):
    """What a run's own rounds say of the test and of the machine, in two sentences."""
    if check is None:
        return None
    q_marked, questions = check.interleaved_questions
    text = (f"Self-check of {label}: odd against even rounds (interleaved, so only noise "
            f"differs) mark {check.interleaved} of {check.cells} cells, in {q_marked} of "
            f"{questions} questions (up to 5% expected). First "
            f"{check.rounds // 2} against last {check.rounds - check.rounds // 2} rounds: "
            f"{check.halves} cells marked")
    if check.drift is not None:
        text += f", the median cell {check.drift:.1%} apart"
    if check.reference_drift is not None:
        text += f" (memcpy ×{check.reference_drift:.3f})"
    return text + ": the drift two runs taken one after the other may show unchanged."


# ---------------------------------------------------------------- rendering

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
    if d.counted:
        return "counted"
    if d.p is None:
        return f"<{stats.MIN_ROUNDS} rounds"
    return f"{d.p:.3f}" if d.p >= 0.001 else f"{d.p:.0e}"


def format_detectable(value):
    if value is None:
        return "-"
    if value == math.inf:
        return "none"
    return f"±{value * 100:.0f}%" if value >= 0.1 else f"±{value * 100:.1f}%"


def mark_of(d):
    if d.exact and d.significant:
        return "more" if d.delta_pct > 0 else "fewer"   # counts: neither good nor bad
    tag = "ref " if d.reference else ""
    if d.regression:
        return f"{tag}*worse"
    if d.significant:
        return f"{tag}*better"
    return "ref" if d.reference else ""


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
    sampled = any(not (d.exact or d.counted) for i in range(len(runs) - 1) for d in table.column(i))
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
                cells += [format_ci(d), format_p(d), format_detectable(d.detectable), mark_of(d)]
            else:
                cells += [format_p(d), mark_of(d)]
        lines.append(cells)
    if len(runs) > 1:
        geo = []
        for g, _, _ in table.geomeans:
            blank = [""] * (len(per_other) - 1)
            geo += ["-", *blank, ""] if g is None else [f"×{g:.3f}", format_delta((g - 1) * 100),
                                                        *blank]
        lines.append(["geometric mean of ratios (read paths)", "×1.000"] + geo)
    align = "lr" + ("rr" + "r" * (len(per_other) - 1)) * (len(runs) - 1)
    align = align[:-1] + "l" if len(runs) > 1 else align
    text = [title, "", markdown_table(headers, lines, align)]
    notes = [n for n in (geomean_note(table, runs), power_note(table, runs)) if n]
    if notes:
        text += ["", " ".join(notes)]
    return "\n".join(text)


def geomean_note(table, runs):
    """What the geometric mean left out, when it left anything out."""
    parts = []
    for (g, used, left), other in zip(table.geomeans, runs[1:]):
        refs = sum(1 for row in table.rows if row.reference)
        out = [f"{refs} reference cell{'s' if refs != 1 else ''}"] if refs else []
        if left - refs > 0:
            out.append(f"{left - refs} without a finite ratio")
        if out and len(runs) > 2:
            parts.append(f"{other.label}: over {used} read paths, leaving out {', '.join(out)}")
        elif out:
            parts.append(f"over {used} read paths, leaving out {', '.join(out)}")
    return ("Geometric mean " + "; ".join(parts) + ".") if parts else ""


def power_note(table, runs):
    """What this table could have seen: one sentence per compared run."""
    if not table.metric.timing and all(d.exact or d.counted for i in range(len(runs) - 1)
                                       for d in table.column(i)):
        if any(d.counted for i in range(len(runs) - 1) for d in table.column(i)):
            return (f"Counted under TCG, interrupts apart, on the rounds without a context "
                    f"switch of the reader: a change beyond ±{results.COUNTED_SPREAD * 100:g}% (the "
                    f"same options twice differ by up to that) is marked, with no test.")
        return ""
    notes = []
    for i, other in enumerate(runs[1:]):
        column = [d for d in table.column(i) if not (d.exact or d.counted) and not d.reference]
        if not column:
            continue
        tested = sum(1 for d in column if d.p is not None)
        who = f"{other.label} vs {runs[0].label}: " if len(runs) > 2 else ""
        fewest = min(min(d.rounds) for d in column)
        if tested == 0:
            notes.append(f"{who}{fewest} round{'s' if fewest != 1 else ''} a side: no test "
                         f"(a round is one process run, and its repetitions move together; "
                         f"{stats.MIN_ROUNDS} or more rounds a side give one)")
            continue
        finite = sorted(d.detectable for d in column if d.detectable is not None)
        if finite:
            mid = stats.median(finite)
            design = "paired rounds" if any(d.paired for d in column) else "rounds"
            notes.append(f"{who}smallest detectable change {format_detectable(mid)} (median "
                         f"over {len(finite)} cells; {format_detectable(finite[0])} to "
                         f"{format_detectable(finite[-1])}) at {fewest}–"
                         f"{max(max(d.rounds) for d in column)} {design} a side, 80% power, "
                         f"Holm over {tested}")
    return ("Detectable: " + "; ".join(notes) + ".") if notes else ""


def legend(tables, alpha):
    lo = min((t.rounds[0] for t in tables), default=0)
    hi = max((t.rounds[1] for t in tables), default=0)
    rounds = f"{lo}" if lo == hi else f"{lo}–{hi}"
    margin = max((t.min_effect for t in tables), default=0)
    beyond = (f" Only changes beyond ±{margin:g}% are tested for (--min-effect): p is for a "
              f"change larger than that.") if margin else ""
    return (f"The unit is the round (one process run; {rounds} per cell): a cell's repetitions "
            f"are summarised per round by their median, and a timing's value is the "
            f"geometric mean of its rounds' medians. Δ is the ratio to the baseline with its "
            f"95% confidence interval and p from Welch's t-test on the rounds' log medians "
            f"(paired round by round where the runs were interleaved in one session); counts "
            f"that vary use the exact Mann–Whitney U on the rounds. `*` marks a change "
            f"significant after Holm correction at α = {alpha} within its table (one file "
            f"size and cache state: one question); `ref` marks a reference cell (memcpy, no "
            f"kernel), which shows how the machine itself moved and is never gated. "
            f"\"detectable\" is the smallest change that comparison finds with 80% power at "
            f"its rounds, noise and Holm step. A hook count constant on both sides is "
            f"compared exactly (more/fewer). Instructions counted under TCG are near-exact: a "
            f"change beyond ±{results.COUNTED_SPREAD * 100:g}% of the baseline's median (their "
            f"measured A/A spread) is marked, without a test.{beyond}")


def drift_note(runs, tables):
    """For runs taken apart (not one interleaved session): what the comparison cannot tell
    from the machine, and how far the reference cells moved between them."""
    lines = []
    for j, other in enumerate(runs[1:]):
        if paired(runs[0], other) is not None:
            continue
        reference = [d for t in tables if t.metric.key == "time" and not t.emulated[0]
                     for d in t.column(j) if d.reference and d.ratio not in (None, math.inf)]
        moved = ""
        if reference:
            factor = stats.geomean([d.ratio for d in reference])
            marked = sum(1 for d in reference if d.significant)
            moved = (f" Between them the reference cells (memcpy, no kernel) moved ×{factor:.3f}"
                     f" ({marked} of {len(reference)} significantly).")
        lines.append(f"{other.label} and {runs[0].label} were taken apart, not interleaved: "
                     f"their rounds are compared as independent, so a change of the machine "
                     f"between the runs (another tenant, a thermal or frequency change) counts "
                     f"as a change of the cells.{moved}")
    return lines
