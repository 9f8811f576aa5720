"""Chart and report data from loaded runs: curves per read path with their uncertainty,
ratios, rankings of like with like, crossovers, fault costs, thread scaling.

Shared by plot and report so that a chart and the sentence describing it come from the
same numbers. Everything here works on results.Run objects; nothing reads files. What a
method is (copies the bytes or only touches pages, keeps its mapping, what it ranks with)
comes from the engine's method table recorded in the run (Run.traits), never from names.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field

from . import stats
from .results import format_size

PAGE = 4096
# A cell whose rounds vary more than this (the standard deviation of their log medians,
# about a coefficient of variation) is marked noisy in tables and charts.
NOISY_CV = 0.03


@dataclass(frozen=True)
class Point:
    """One cell's value and its uncertainty, at x (I/O size, file size or threads): the
    geometric mean of its rounds' medians with the stats.Estimate interval."""

    x: int
    value: float
    low: float            # the interval (estimate.interval_name says which; None: none)
    high: float
    cv: float             # spread of the rounds (of the repetitions with one round)
    rounds: tuple = ()    # ((round id, [values]), ...), scaled like value
    estimate: stats.Estimate = None

    @property
    def noisy(self):
        return self.cv is not None and self.cv > NOISY_CV

    @property
    def across_rounds(self):
        return self.estimate is not None and self.estimate.across_rounds

    def overlaps(self, other):
        """True unless both intervals exist and are disjoint."""
        if None in (self.low, self.high, other.low, other.high):
            return True
        return self.low <= other.high and other.low <= self.high


def point(x, by_round, scale=1.0):
    """A Point from {round: [values]}, each value multiplied by scale."""
    scaled = tuple((r, [v * scale for v in values]) for r, values in by_round.items() if values)
    est = stats.estimate([values for _, values in scaled])
    if est is None:
        return None
    return Point(x, est.value, est.low, est.high, est.spread, scaled, est)


def ratio_point(base, other, confidence=0.95):
    """other/base of two cells of one run at the same x: their rounds are the same process
    runs, so the ratio is taken round by round (paired t on the log medians) with its
    interval; with fewer than stats.MIN_ROUNDS shared rounds, the ratio of the values and
    no interval. None when a value cannot be logged."""
    base_rounds, other_rounds = dict(base.rounds), dict(other.rounds)
    shared = [r for r in base_rounds if r in other_rounds]
    a = stats.round_values([base_rounds[r] for r in shared], log=True)
    b = stats.round_values([other_rounds[r] for r in shared], log=True)
    if not a or not b:
        return None
    diff = stats.difference(a, b, paired=True)
    if diff is None:
        return Point(other.x, other.value / base.value, None, None, None)
    estimate, se, df = diff
    low, high = stats.t_interval(estimate, se, df, confidence)
    return Point(other.x, math.exp(estimate), math.exp(low), math.exp(high), None)


@dataclass
class Series:
    label: str            # "uring qd:32": the method plus parameters off the axes
    method: str
    traits: dict          # the engine's description of the method (may be empty)
    points: list = field(default_factory=list)

    @property
    def ranks_with(self):
        return self.traits.get("ranks_with")

    @property
    def fault_only(self):
        """Touches pages without copying the bytes out: fault cost, not read throughput."""
        return self.traits.get("delivers") == "touch"

    def at(self, x):
        return next((p for p in self.points if p.x == x), None)


def series_label(bench, drop=("io", "file", "warm", "threads")):
    """`uring qd:32`: the method plus whatever parameters are not on an axis or a facet."""
    extra = [f"{k}:{format_size(v) if k in ('io', 'file') else v}"
             for k, v in bench.params.items() if k not in drop]
    return " ".join([bench.method, *extra])


def usable(run, target, metric="bytes_per_second"):
    return [b for b in run.benchmarks.values()
            if b.target == target and not b.skipped and b.values(metric)]


def io_curves(run, target):
    """{(file, warm): {label: Series of (io, bytes/s)}} for single-thread cells."""
    curves = defaultdict(dict)
    for bench in usable(run, target):
        params = bench.params
        if "io" not in params or params.get("threads", 1) != 1:
            continue
        facet = (params.get("file"), params.get("warm", 1))
        label = series_label(bench)
        series = curves[facet].setdefault(label, Series(label, bench.method,
                                                        run.traits(bench.method)))
        p = point(params["io"], bench.by_round("bytes_per_second"))
        if p is not None:
            series.points.append(p)
    for facet in curves.values():
        for series in facet.values():
            series.points.sort(key=lambda p: p.x)
    return dict(curves)


def ordered_facets(curves):
    """Warm before cold, small files first."""
    return sorted(curves, key=lambda f: (-(f[1] if f[1] is not None else 1), f[0] or 0))


def read_paths(facet):
    """The series of a facet that deliver the bytes (fault-only paths go elsewhere)."""
    return {label: s for label, s in facet.items() if not s.fault_only}


def baseline_series(series):
    """The series ratios are taken against: pread (folly's BENCHMARK_RELATIVE idea), else read."""
    for name in ("pread", "read"):
        if name in series:
            return name
    return None


def ratios(series, baseline):
    """{label: [Point of other/baseline ratio, with its 95% CI]} where both have that io
    (paired round by round: ratio_point)."""
    base = series[baseline]
    out = {}
    for label, s in series.items():
        pts = []
        for p in s.points:
            b = base.at(p.x)
            if b is None:
                continue
            ratio = ratio_point(b, p)
            if ratio is not None:
                pts.append(ratio)
        if pts:
            out[label] = pts
    return out


@dataclass
class Ranking:
    """The fastest of a group of like paths at one I/O size, and whether it is a tie."""

    group: str
    io: int
    best: str
    best_point: Point
    runner: str = None
    runner_point: Point = None

    @property
    def tie(self):
        return self.runner_point is not None and \
            beyond_noise(self.best_point, self.runner_point) != 1


def fastest(series):
    """[Ranking] per rank group (the engine's `ranks_with`) and I/O size, for groups with
    two or more paths: like is ranked only with like. Methods without traits, and the
    memcpy baselines, are left out."""
    groups = defaultdict(lambda: defaultdict(list))
    for label, s in series.items():
        if s.ranks_with and s.ranks_with != "baseline":   # bounds, not paths
            for p in s.points:
                groups[s.ranks_with][p.x].append((p.value, label, p))
    out = []
    for group in sorted(groups):
        if len({label for entries in groups[group].values() for _, label, _ in entries}) < 2:
            continue
        for io, entries in sorted(groups[group].items()):
            entries.sort(key=lambda e: e[0], reverse=True)
            ranking = Ranking(group, io, entries[0][1], entries[0][2])
            if len(entries) > 1:
                ranking.runner, ranking.runner_point = entries[1][1], entries[1][2]
            out.append(ranking)
    return out


def beyond_noise(challenger, reference):
    """+1 when challenger is faster than reference beyond noise, -1 slower, 0 within it:
    their round-by-round ratio's 95% interval excludes 1. With too few rounds for that
    interval, only disjoint intervals of their own separate them."""
    ratio = ratio_point(reference, challenger)
    if ratio is not None and ratio.low is not None:
        if ratio.low > 1:
            return 1
        return -1 if ratio.high < 1 else 0
    if challenger.overlaps(reference):
        return 0
    return 1 if challenger.value > reference.value else -1


def direct(series):
    """True for a path that reads with O_DIRECT (the engine's `direct` trait): it bypasses
    the page cache, so beside a buffered read it is a different kind of path even where the
    engine ranks the two together."""
    return bool(series.traits.get("direct"))


def direct_reference(series):
    """The O_DIRECT path that O_DIRECT io_uring is set against, as read(2) is for buffered
    io_uring: an O_DIRECT path of the engine's `read` family without a queue depth; None if
    there is none."""
    for label, s in sorted(series.items()):
        if direct(s) and s.traits.get("family") == "read" and not s.traits.get("uses_qd"):
            return label
    return None


def crossovers(series, reference="read"):
    """[(label, io)] where a path of the reference's rank group but another family (io_uring
    vs read(2)) first becomes faster than the reference beyond noise as io grows, having
    not been so at the previous io; [(label, None)] when it is faster at every io. Only
    paths that go through the page cache as the reference does (or bypass it as it does)
    are set against it."""
    ref = series.get(reference)
    if ref is None or not ref.ranks_with:
        return []
    found = []
    for label, s in sorted(series.items()):
        if s.ranks_with != ref.ranks_with or s.traits.get("family") == ref.traits.get("family") \
                or direct(s) != direct(ref):
            continue
        states = [(p.x, beyond_noise(p, ref.at(p.x))) for p in s.points if ref.at(p.x)]
        if not states:
            continue
        if all(state == 1 for _, state in states):
            found.append((label, None))
            continue
        for (_, before), (io, after) in zip(states, states[1:]):
            if before != 1 and after == 1:
                found.append((label, io))
                break
    return found


def fault_costs(run, target):
    """{label: [(file, Point of ns per 4 KiB page, minor faults per page)]} for the paths that
    map and fault pages without copying them (warm, one thread)."""
    out = defaultdict(list)
    for bench in usable(run, target):
        if run.traits(bench.method).get("delivers") != "touch" or "file" not in bench.params:
            continue
        if bench.params.get("threads", 1) != 1 or bench.params.get("warm", 1) != 1:
            continue
        pages = bench.params["file"] / PAGE
        minflt = bench.median("minflt")
        out[series_label(bench, drop=("file", "warm", "threads", "io"))].append(
            (bench.params["file"], point(bench.params["file"], bench.by_round("time"), 1 / pages),
             None if minflt is None else minflt / pages))
    for points in out.values():
        points.sort(key=lambda p: p[0])
    return dict(out)


def thread_scaling(run, target, io_near=65536):
    """{file: {label: [Point(threads, bytes/s)]}} for warm cells of the read paths (not
    fault-only ones) run at several thread counts, at the one I/O size nearest `io_near` so
    each panel stays readable."""
    cells = defaultdict(lambda: defaultdict(list))
    for bench in usable(run, target):
        if "threads" not in bench.params or bench.params.get("warm", 1) != 1:
            continue
        if run.traits(bench.method).get("delivers") == "touch":
            continue
        label = series_label(bench, drop=("threads", "warm", "file", "io"))
        p = point(bench.params["threads"], bench.by_round("bytes_per_second"))
        if p is not None:
            cells[bench.params.get("file")][(bench.params.get("io"), label)].append(p)
    out = {}
    for file, by_series in cells.items():
        scaling = {k: sorted(v, key=lambda p: p.x) for k, v in by_series.items()
                   if len({p.x for p in v}) > 1}
        if not scaling:
            continue
        ios = {io for io, _ in scaling}
        io = min(ios, key=lambda v: (abs((v or 0) - io_near), v or 0))
        out[file] = {f"{label} io:{format_size(io)}": pts
                     for (i, label), pts in sorted(scaling.items()) if i == io}
    return out


# The percentiles a latency chart marks on each curve, with the counters that hold them.
LATENCY_MARKS = ((0.5, "lat_p50_ns"), (0.99, "lat_p99_ns"))


@dataclass
class LatencyCurve:
    """One cell's latency per request as a CDF, all repetitions' requests pooled, with the
    values (and intervals) over the rounds of the percentiles it marks."""

    label: str            # "uring qd:8": the method and what is not on the chart's facet
    method: str
    warm: int
    cdf: list             # [(ns, fraction of requests at or below it)], from 0 up to 1
    requests: int
    marks: list           # [(fraction, Point of the percentile's ns over the rounds)]


def latency_curves(run, target):
    """{(file, io): {(label, warm): LatencyCurve}} of the cells whose histograms the run's
    latency sidecars hold; {} when there are none."""
    out = defaultdict(dict)
    for bench in usable(run, target, "time"):
        histogram = run.latency(bench)
        total = sum(count for _, _, count in histogram)
        if not total:
            continue
        cdf, seen = [(histogram[0][0], 0.0)], 0
        for _, upper, count in histogram:
            seen += count
            cdf.append((upper, seen / total))
        marks = [(fraction, p) for fraction, p in
                 ((fraction, point(fraction, bench.by_round(key)))
                  for fraction, key in LATENCY_MARKS if bench.values(key)) if p is not None]
        label = series_label(bench, drop=("file", "warm", "io")).replace(" threads:1", "")
        warm = bench.params.get("warm", 1)
        out[(bench.params.get("file"), bench.params.get("io"))][(label, warm)] = LatencyCurve(
            label, bench.method, warm, cdf, total, marks)
    return dict(out)


def hook_counts(run, target):
    """{benchmark name: {hook: calls per pass}} for cells with myfs counters: exact under
    any accelerator, so what charts of emulated guests draw."""
    out = {}
    for bench in usable(run, target, "time"):
        hooks = {key[len("myfs_"):]: bench.median(key) for key in bench.samples
                 if key.startswith("myfs_")}
        if any(hooks.values()):
            out[bench.name] = hooks
    return out
