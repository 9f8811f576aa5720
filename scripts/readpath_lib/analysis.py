"""Chart and report data from loaded runs: curves per read path, ratios, crossovers.

Shared by plot and report so that a chart and the sentence describing it come from the
same numbers. Everything here works on results.Run objects; nothing reads files.
"""

from collections import defaultdict

from .results import format_size

PAGE = 4096
MMAP_METHODS = ("mmap_touch", "mmap_populate", "mmap_copy")
# Paths that touch mapped pages but copy nothing out: fault cost, not read throughput.
FAULT_ONLY = ("mmap_touch", "mmap_populate")
# Paths whose crossover with read(2) the report looks for.
CHALLENGERS = ("uring", "uring_fixed", "mmap_copy")


def series_label(bench, drop=("io", "file", "warm", "threads")):
    """`uring qd:32`: the method plus whatever parameters are not on an axis or a facet."""
    extra = [f"{k}:{format_size(v) if k in ('io', 'file') else v}"
             for k, v in bench.params.items() if k not in drop]
    return " ".join([bench.method, *extra])


def usable(run, target, metric="bytes_per_second"):
    return [b for b in run.benchmarks.values()
            if b.target == target and not b.skipped and b.values(metric)]


def io_curves(run, target):
    """{(file, warm): {series: [(io, median bytes/s, samples)]}} for single-thread cells."""
    curves = defaultdict(lambda: defaultdict(list))
    for bench in usable(run, target):
        params = bench.params
        if "io" not in params or params.get("threads", 1) != 1:
            continue
        facet = (params.get("file"), params.get("warm", 1))
        curves[facet][series_label(bench)].append(
            (params["io"], bench.median("bytes_per_second"), bench.values("bytes_per_second")))
    for facet in curves.values():
        for points in facet.values():
            points.sort(key=lambda p: p[0])
    return curves


def ordered_facets(curves):
    """Warm before cold, small files first."""
    return sorted(curves, key=lambda f: (-(f[1] if f[1] is not None else 1), f[0] or 0))


def baseline_series(series):
    """The series ratios are taken against: pread (folly's BENCHMARK_RELATIVE idea), else read."""
    for name in ("pread", "read"):
        if name in series:
            return name
    return None


def ratios(series, baseline):
    """{series: [(io, ratio to baseline at the same io)]} where both have that io."""
    base = {io: v for io, v, _ in series[baseline]}
    out = {}
    for name, points in series.items():
        pts = [(io, v / base[io]) for io, v, _ in points if base.get(io)]
        if pts:
            out[name] = pts
    return out


def crossovers(series, reference="read"):
    """[(series, io)] where a challenger first becomes faster than `reference` as io grows,
    having been slower at the previous io; [(series, None)] when it is faster everywhere."""
    if reference not in series:
        return []
    ref = {io: v for io, v, _ in series[reference]}
    found = []
    for name, points in sorted(series.items()):
        if name.split(" ")[0] not in CHALLENGERS:
            continue
        shared = [(io, v / ref[io]) for io, v, _ in points if ref.get(io)]
        if not shared:
            continue
        if all(r >= 1 for _, r in shared):
            found.append((name, None))
            continue
        for (_, before), (io, after) in zip(shared, shared[1:]):
            if before < 1 <= after:
                found.append((name, io))
                break
    return found


def fastest(series):
    """{io: (series, bytes/s, runner-up series, its bytes/s)} per I/O size, over the paths
    that deliver the bytes into a buffer."""
    by_io = defaultdict(list)
    for name, points in series.items():
        if name.split(" ")[0] in FAULT_ONLY:
            continue  # they map pages without copying the bytes out: not a read path
        for io, value, _ in points:
            by_io[io].append((value, name))
    out = {}
    for io, entries in sorted(by_io.items()):
        entries.sort(reverse=True)
        runner = entries[1] if len(entries) > 1 else (None, None)
        out[io] = (entries[0][1], entries[0][0], runner[1], runner[0])
    return out


def fault_costs(run, target):
    """{series: [(file, ns per 4 KiB page, minor faults per page)]} for the mmap paths."""
    out = defaultdict(list)
    for bench in usable(run, target):
        if bench.method not in MMAP_METHODS or "file" not in bench.params:
            continue
        if bench.params.get("threads", 1) != 1 or bench.params.get("warm", 1) != 1:
            continue
        time_ns = bench.median("time")
        bps = bench.median("bytes_per_second")
        if not time_ns or not bps:
            continue
        pages = bps * time_ns / 1e9 / PAGE   # bytes one iteration moved, in pages
        if pages <= 0:
            continue
        minflt = bench.median("minflt")
        out[series_label(bench, drop=("file", "warm", "threads"))].append(
            (bench.params["file"], time_ns / pages, None if minflt is None else minflt / pages))
    for points in out.values():
        points.sort()
    return out


def thread_scaling(run, target, io_near=65536):
    """{file: {series: [(threads, median bytes/s)]}} for warm cells run at several thread
    counts, at the one I/O size nearest `io_near` so each panel stays readable."""
    cells = defaultdict(lambda: defaultdict(list))
    for bench in usable(run, target):
        if "threads" not in bench.params or bench.params.get("warm", 1) != 1:
            continue
        label = series_label(bench, drop=("threads", "warm", "file", "io"))
        cells[bench.params.get("file")][(bench.params.get("io"), label)].append(
            (bench.params["threads"], bench.median("bytes_per_second")))
    out = {}
    for file, by_series in cells.items():
        scaling = {k: sorted(v) for k, v in by_series.items() if len({t for t, _ in v}) > 1}
        if not scaling:
            continue
        ios = {io for io, _ in scaling}
        io = min(ios, key=lambda v: (abs((v or 0) - io_near), v or 0))
        out[file] = {f"{label} io:{format_size(io)}": pts
                     for (i, label), pts in sorted(scaling.items()) if i == io}
    return out
