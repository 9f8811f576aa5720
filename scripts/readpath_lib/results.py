"""Loading readpath results: Google Benchmark JSON files and run folders, checked and grouped.

A run folder (what `readpath run` writes) holds raw/*.json; a result file is one
readpath_bench JSON. Both load into a Run: benchmarks keyed by (target, name), each with
its repetitions as samples and the round each came from, so compare, plot and report never
parse JSON themselves. A round is one readpath_bench process: `<name>-r<N>.json` is round N
(a run's rounds are several files holding the same cells), any other file a round of its
own. Repetitions of one round move together; the round is what statistics count (stats.py). The target is the filesystem type
under test (tmpfs, myfs, ...), so that native timings and VM hook counts from the same run
are never matched against each other. Names drop Google Benchmark's timing suffix
(`/real_time`, `/manual_time`): how a cell was clocked is not part of what it measures.
A cell's latency percentiles (`lat_*`, from readpath_bench --latency) are samples like any
counter; its per-request histograms, in the FILE.latency.json beside each result file, are
read only when asked for (Run.latency).

What each method is (does it copy the bytes, does it keep its mapping, what is timed, what
it ranks with) comes from the engine's own table, recorded in each result's context under
`methods` (`readpath_bench --list-methods`); nothing here keeps a list of method names.
"""

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from . import stats
from .errors import UsageError

_TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Keys of a benchmark entry that are Google Benchmark's own, not counters.
_GB_KEYS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
            "repetitions", "repetition_index", "threads", "iterations", "real_time",
            "cpu_time", "time_unit", "aggregate_name", "aggregate_unit", "error_occurred",
            "error_message", "label", "big_o", "rms"}


@dataclass(frozen=True)
class Metric:
    key: str            # "time" or a counter name in the JSON
    title: str          # what a table or chart calls it
    unit: str           # "ns", "B/s" or "" (a count per iteration)
    higher_is_better: bool
    timing: bool        # meaningless under TCG, so marked emulated there


TIME = Metric("time", "time per iteration", "ns", False, True)
# The reading thread's own CPU time in a pass: its wall time without the time it waited to
# run or the hypervisor stole, and without work done for it elsewhere (io-wq, SQPOLL,
# interrupts, device waits); the context's `cpu_ns` says so (readpath_bench's cpu_usage).
CPU_TIME = Metric("cpu_ns", "CPU time per iteration", "ns", False, True)
# Where the rest of the wall time went: the thread's run-queue wait, the machine's steal.
WAIT_METRICS = [Metric("runq_ns", "run-queue wait per iteration", "ns", False, True),
                Metric("steal_ns", "steal (all CPUs) per iteration", "ns", False, True)]
BYTES_PER_SECOND = Metric("bytes_per_second", "throughput", "B/s", True, True)
ITEMS_PER_SECOND = Metric("items_per_second", "requests per second", "/s", True, True)
# Under QEMU TCG with the readpath_icount plugin (docs/contracts.md, "Counted cost"): the
# instructions the reader's vCPU executed per request of the timed passes, interrupts
# counted apart. Not timings: compared on the repetitions whose passes had no context
# switch (compare._undisturbed), where the same options twice in one boot differed by
# COUNTED_SPREAD at most (measured: 1.02%, cold 4K mmap_touch on 6.1, where fault-around
# mapped pages found up to date a little differently; read(2)/pread(2) 0.00-0.15%).
COUNTED_METRICS = [Metric("instructions_per_request", "instructions per request (counted)", "", False, False),
                   Metric("kernel_instructions_per_request", "kernel instructions per request (counted)",
                          "", False, False),
                   Metric("user_instructions_per_request", "user instructions per request (counted)",
                          "", False, False),
                   Metric("interrupt_instructions_per_request", "interrupt instructions per request "
                          "(counted, apart)", "", False, False)]
COUNTED_SPREAD = 0.02
# Where a PMU counts (a real host, KVM with a virtual PMU; context `pmu_counting`): the
# reader thread's instructions and cycles per request of the timed passes, through
# perf_event_open. Sampled like any counter (interrupts, frequency), so tested over rounds.
PMU_METRICS = [Metric("pmu_instructions_per_request", "instructions per request (PMU)", "", False, False),
               Metric("pmu_kernel_instructions_per_request", "kernel instructions per request (PMU)",
                      "", False, False),
               Metric("pmu_user_instructions_per_request", "user instructions per request (PMU)",
                      "", False, False),
               Metric("pmu_cycles_per_request", "cycles per request (PMU)", "", False, False),
               Metric("pmu_kernel_cycles_per_request", "kernel cycles per request (PMU)", "", False, False)]
FIXED_COUNTERS = [Metric("minflt", "minor faults per iteration", "", False, False),
                  Metric("majflt", "major faults per iteration", "", False, False),
                  Metric("ctxsw", "context switches per iteration", "", False, False)]
# A latency pass (readpath_bench --latency) times each request on its own: per repetition its
# percentiles are counters like the others, each holding about one `latency_timer_ns` of the
# context (not subtracted). Timings, so marked emulated under TCG.
LATENCY_PERCENTILES = [Metric("lat_p50_ns", "latency p50 per request", "ns", False, True),
                       Metric("lat_p90_ns", "latency p90 per request", "ns", False, True),
                       Metric("lat_p99_ns", "latency p99 per request", "ns", False, True),
                       Metric("lat_p999_ns", "latency p99.9 per request", "ns", False, True),
                       Metric("lat_max_ns", "latency max per request", "ns", False, True),
                       Metric("lat_mean_ns", "latency mean per request", "ns", False, True)]
# The block device under the directory (docs/contracts.md, "The device in a cell"): its
# /sys/block/<disk>/stat read around the same untimed counting pass as the hook counters, per
# pass over one thread's region. Counts, exact when nothing else reads the device;
# dev_read_ms is the device's busy time, a timing (emulated under TCG).
DEVICE_COUNTERS = [Metric("dev_reads", "device read requests per pass", "", False, False),
                   Metric("dev_read_merges", "device read merges per pass", "", False, False),
                   Metric("dev_read_kib", "device KiB read per pass", "", False, False),
                   Metric("dev_read_avg_kib", "device KiB per read request", "", False, False),
                   Metric("dev_read_ms", "device read time (ms) per pass", "", False, True)]
# The context keys that say which device a result read from; they are set only when the
# directory under test is on a block device (read_ahead_kb is then that device's).
DEVICE_CONTEXT = [("block_device", "block device"), ("block_scheduler", "I/O scheduler"),
                  ("block_model", "device model"), ("read_ahead_kb", "read_ahead_kb")]
LATENCY_COUNT = Metric("lat_count", "requests per latency pass", "", False, False)
LATENCY_METRICS = [*LATENCY_PERCENTILES, LATENCY_COUNT]
# readpath_bench --latency writes FILE.latency.json beside FILE (docs/contracts.md): the
# per-request histograms, not a result file of its own.
LATENCY_SIDECAR = ".latency.json"
# Under the readpath_icount plugin readpath_bench also writes FILE.functions.json: each
# one-thread cell's counted kernel instructions by kernel function.
FUNCTIONS_SIDECAR = ".functions.json"
SIDECARS = (LATENCY_SIDECAR, FUNCTIONS_SIDECAR)
HOOK_PREFIX = "myfs_"   # a cell's myfs counters are its samples myfs_<hook>
# The myfs hooks that explain a block device's requests: the page-cache calls that ask it
# for pages, and what myfs submitted to it (bios, their pages, O_DIRECT reads, completions).
# myfs names every hook (hook_order); the report's device table and the findings about a
# device's requests both take these, in the data's order.
DEVICE_HOOKS = ("readahead", "readahead_pages", "read_folio", "direct_read", "bio_submit",
                "bio_pages", "bio_complete", "bio_error")


def hook_metric(hook):
    return Metric(f"{HOOK_PREFIX}{hook}", f"myfs {hook} per iteration", "", False, False)


def hook_order(runs):
    """myfs's hook names as the data gives them: in the order of myfs's stats file, which
    readpath_bench records in its context (`myfs_counters`), then any other counter the
    cells carry, alphabetically. myfs owns the names; nothing here lists them."""
    order = []
    for run in runs:
        for ctx in run.contexts.values():
            order += [h for h in ctx.get("myfs_counters", "").split(",") if h and h not in order]
    present = {k[len(HOOK_PREFIX):] for run in runs for b in run.benchmarks.values()
               for k in b.samples if k.startswith(HOOK_PREFIX)}
    return order + sorted(present - set(order))


@dataclass
class Benchmark:
    """One benchmark cell of one run: its name, parameters and per-repetition samples."""

    name: str
    target: str
    method: str
    params: dict                        # ArgName -> int (or str when not a number)
    samples: dict = field(default_factory=dict)   # metric key -> [value per repetition]
    skipped: str = ""                   # the engine's reason when the cell did not run
    sample_rounds: dict = field(default_factory=dict)  # metric key -> [round of each sample]

    @property
    def key(self):
        return (self.target, self.name)

    def values(self, metric_key):
        return self.samples.get(metric_key, [])

    def add(self, metric_key, value, round_id):
        self.samples.setdefault(metric_key, []).append(value)
        self.sample_rounds.setdefault(metric_key, []).append(round_id)

    def by_round(self, metric_key):
        """{round: [values]} in round order."""
        grouped = {}
        for value, rnd in zip(self.values(metric_key), self.sample_rounds.get(metric_key, [])):
            grouped.setdefault(rnd, []).append(value)
        return {rnd: grouped[rnd] for rnd in sorted(grouped, key=round_order)}

    def rounds(self, metric_key):
        """The round ids that hold values of a metric, in order."""
        return list(self.by_round(metric_key))

    def median(self, metric_key):
        return stats.median(self.values(metric_key))

    def estimate(self, metric, confidence=0.95):
        """stats.Estimate of a metric over the rounds (a Metric, or a key read as a timing)."""
        key, log = (metric.key, metric.timing or metric.unit in ("B/s", "/s")) \
            if isinstance(metric, Metric) else (metric, True)
        return stats.estimate(list(self.by_round(key).values()), log, confidence)


@dataclass
class Run:
    """A set of result files read as one: a run folder, or a single JSON file."""

    path: Path
    label: str
    contexts: dict                       # target -> context{} of its first file
    benchmarks: dict                     # (target, name) -> Benchmark
    files: list
    methods: dict = field(default_factory=dict)   # method name -> its traits (engine's table)
    file_targets: dict = field(default_factory=dict)   # result file -> its target
    # The folder its files were written to: two runs of one session (the configurations of
    # one compare-options boot, rounds interleaved) are paired round by round.
    session: Path = None
    _histograms: dict = field(default=None, repr=False)  # (target, name) -> merged, on demand
    _functions: dict = field(default=None, repr=False)   # (target, name) -> [per round], on demand

    def context(self, key, default="", target=None):
        """A context value: the target's own when given (myfs runs in a guest has the guest's
        kernel), else the first one any target has."""
        if target is not None:
            return self.contexts.get(target, {}).get(key, default)
        for ctx in self.contexts.values():
            if key in ctx:
                return ctx[key]
        return default

    def device(self, target):
        """{context key: value} of the block device a target's cells read from (the keys
        of DEVICE_CONTEXT); {} when its directory is not on a block device."""
        ctx = self.contexts.get(target, {})
        if not ctx.get("block_device"):
            return {}
        return {key: str(ctx.get(key, "-")) for key, _ in DEVICE_CONTEXT}

    def emulated(self, target):
        """True when the timings of this target came from a TCG guest."""
        return str(self.context("accel", target=target)).lower() == "tcg"

    def targets(self):
        return sorted({b.target for b in self.benchmarks.values()})

    def round_ids(self):
        """Every round any benchmark of this run has values from, in order."""
        ids = {r for b in self.benchmarks.values() for rs in b.sample_rounds.values() for r in rs}
        return sorted(ids, key=round_order)

    def subset(self, round_ids, label):
        """The same run with only the samples of these rounds (a self-check splits a run)."""
        keep = set(round_ids)
        benchmarks = {}
        for key, bench in self.benchmarks.items():
            part = Benchmark(bench.name, bench.target, bench.method, bench.params,
                             skipped=bench.skipped)
            for metric, values in bench.samples.items():
                for value, rnd in zip(values, bench.sample_rounds.get(metric, [])):
                    if rnd in keep:
                        part.add(metric, value, rnd)
            benchmarks[key] = part
        files = [f for f in self.files if file_round(f) in keep]
        return Run(self.path, label, self.contexts, benchmarks, files, self.methods,
                   self.file_targets, session=self.session)

    def traits(self, method):
        """The engine's description of a method (delivers, keeps_mapping, ranks_with,
        timed, family, ...); empty for results written before readpath recorded it."""
        return self.methods.get(method, {})

    def metrics(self):
        """The metrics this run has values for, timings first, then counters."""
        present = {k for b in self.benchmarks.values() for k in b.samples}
        order = [TIME, CPU_TIME, BYTES_PER_SECOND, ITEMS_PER_SECOND, *COUNTED_METRICS, *PMU_METRICS,
                 *WAIT_METRICS,
                 *LATENCY_METRICS, *FIXED_COUNTERS,
                 *DEVICE_COUNTERS, *[hook_metric(h) for h in hook_order([self])]]
        return [m for m in order if m.key in present]

    def latency(self, bench):
        """The per-request latency histogram of a cell (a Benchmark or its key), merged over
        its repetitions: [(lower_ns, upper_ns, count)] in order, half-open buckets; [] when
        no latency sidecar holds the cell. The sidecars are read on the first call."""
        if self._histograms is None:
            self._histograms = {}
            for target, sidecar in self._sidecars(LATENCY_SIDECAR):
                _merge_sidecar(self._histograms, sidecar, target)
        key = bench.key if isinstance(bench, Benchmark) else bench
        merged = self._histograms.get(key, {})
        return [(low, high, count) for (low, high), count in sorted(merged.items())]

    def _sidecars(self, suffix):
        """(target, path) of each result file's sidecar with that suffix, where it has one."""
        for file in self.files:
            target = self.file_targets.get(file)
            sidecar = Path(str(file) + suffix)
            if target is not None and sidecar.is_file():
                yield target, sidecar

    def functions(self, bench):
        """Counted kernel instructions per request by kernel function (readpath_icount's
        attribution): {function: the median over the rounds}, largest first; {} when no
        functions sidecar holds the cell. A round without a function counts it 0."""
        if self._functions is None:
            self._functions = {}
            for target, sidecar in self._sidecars(FUNCTIONS_SIDECAR):
                for name, per_request in _functions_sidecar(sidecar).items():
                    self._functions.setdefault((target, name), []).append(per_request)
        key = bench.key if isinstance(bench, Benchmark) else bench
        rounds = self._functions.get(key, [])
        names = {name for per_request in rounds for name in per_request}
        medians = {name: statistics.median(r.get(name, 0.0) for r in rounds) for name in names}
        return dict(sorted(medians.items(), key=lambda item: (-item[1], item[0])))


def _functions_sidecar(path):
    """{canonical cell name: {function: instructions per request}} of one functions file."""
    try:
        cells = json.loads(path.read_text())["cells"]
        return {canonical_name(name): {fn: count / cell["requests"]
                                       for fn, count in cell["functions"].items()}
                for name, cell in cells.items() if cell["requests"] > 0}
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}")
    except (ValueError, TypeError, KeyError, AttributeError, ZeroDivisionError):
        raise UsageError(f"{path} is not the functions file readpath_bench writes (cells of "
                         "requests and instructions by function); remove it to use the result "
                         "without its attribution")


def _merge_sidecar(histograms, path, target):
    """Adds a sidecar's counts (every repetition) to histograms[(target, name)]."""
    try:
        cells = json.loads(path.read_text())["cells"]
        for name, repetitions in cells.items():
            merged = histograms.setdefault((target, canonical_name(name)), {})
            for repetition in repetitions:
                for low, high, count in repetition["counts"]:
                    merged[(low, high)] = merged.get((low, high), 0) + count
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UsageError(f"{path} is not the latency file readpath_bench writes (cells of "
                         "[lower, upper, count] per repetition); was the run interrupted? "
                         "remove it to use the result without its histograms")


def canonical_name(name):
    """A cell's name without Google Benchmark's clock suffix."""
    return re.sub(r"/(real_time|manual_time)(?=/|$)", "", name)


def parse_name(name):
    """`uring/io:4096/file:16777216/warm:1/qd:32/real_time` -> ("uring", {io: 4096, ...})."""
    parts = name.split("/")
    params = {}
    for part in parts[1:]:
        if ":" not in part:
            continue  # Google Benchmark's own suffixes: real_time, manual_time, ...
        arg, value = part.split(":", 1)
        params[arg] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return parts[0], params


def sort_key(key):
    """Order of (target, name) keys in tables and charts: by target, method, then the
    numeric parameters in name order."""
    target, name = key
    method, params = parse_name(name)
    numbers = tuple(v if isinstance(v, int) else 0 for v in params.values())
    return (target, method, numbers, name)


def short_name(name):
    """The name as tables show it: without the clock suffix and the `/threads:1` that
    every single-threaded cell carries."""
    return re.sub(r"/threads:1$", "", canonical_name(name))


def fs_type(context):
    fs = str(context.get("fs", "")).strip()
    return re.split(r"[\s(,]", fs, 1)[0] if fs else "unknown"


def _read_json(path):
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is not valid JSON (line {err.lineno}: {err.msg}); "
                         "was the run interrupted? rerun it, or remove the file")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise UsageError(f"{path} is not a readpath_bench result (no benchmarks list)")
    return data


def file_round(path):
    """The round a result file holds: N for `<name>-r<N>.json`, else the file's own name
    (a round of its own)."""
    match = re.search(r"-r(\d+)\.json$", Path(path).name)
    return int(match.group(1)) if match else Path(path).name


def round_order(round_id):
    """Sort key of round ids: numbered rounds in order, then files by name."""
    return (0, round_id, "") if isinstance(round_id, int) else (1, 0, str(round_id))


def _add_entry(benchmarks, entry, target, path, round_id):
    if not isinstance(entry, dict) or "name" not in entry:
        raise UsageError(f"{path}: a benchmark entry has no name; the file is not "
                         "readpath_bench output")
    if entry.get("run_type") == "aggregate":
        return  # recomputed from the repetitions; only used when repetitions are absent
    name = canonical_name(entry.get("run_name") or entry["name"])
    method, params = parse_name(name)
    bench = benchmarks.setdefault((target, name), Benchmark(name, target, method, params))
    if entry.get("error_occurred") or entry.get("skipped"):
        bench.skipped = str(entry.get("error_message") or entry.get("skip_message") or "skipped")
        return
    unit = _TIME_TO_NS.get(entry.get("time_unit", "ns"))
    if unit is None or not isinstance(entry.get("real_time"), (int, float)):
        raise UsageError(f"{path}: benchmark {name} has no usable real_time/time_unit")
    bench.add("time", entry["real_time"] * unit, round_id)
    for key, value in entry.items():
        if key in _GB_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            bench.add(key, float(value), round_id)


def _add_aggregate_means(benchmarks, entries, target, round_id):
    """For files written with --benchmark_report_aggregates_only: the mean as one sample."""
    for entry in entries:
        if entry.get("run_type") != "aggregate" or entry.get("aggregate_name") != "mean":
            continue
        name = canonical_name(entry.get("run_name") or entry["name"])
        if (target, name) in benchmarks:
            continue
        _add_entry(benchmarks, dict(entry, run_type="iteration"), target, "", round_id)


def result_files(path):
    """The JSON files a path stands for: itself, or the raw/*.json of a run folder."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist; give a result JSON file or a run folder "
                         "(results/<date>-<kernel>-<host>)")
    if path.is_file():
        return [path]
    raw = path / "raw"
    files = sorted(raw.glob("*.json")) if raw.is_dir() else sorted(path.glob("*.json"))
    files = [f for f in files if f.name not in ("environment.json", "plan.json")
             and not f.name.endswith(SIDECARS)]
    if not files:
        raise UsageError(f"{path} holds no result JSON (looked in {raw if raw.is_dir() else path}); "
                         "is the run finished? `readpath run --resume` continues it")
    return files


def move_result(src, dst):
    """Rename a result file, and its sidecars along with it when it has them."""
    for suffix in SIDECARS:
        sidecar = Path(str(src) + suffix)
        if sidecar.exists():
            sidecar.rename(str(dst) + suffix)
    Path(src).rename(dst)


def round_files(raw, stem):
    """The result JSON of every round of one configuration, `<stem>-r<N>.json` in `raw`, in
    round order (a latency sidecar beside each is not one)."""
    files = [f for f in Path(raw).glob(f"{stem}-r*.json") if re.fullmatch(
        re.escape(stem) + r"-r(\d+)\.json", f.name)]
    return sorted(files, key=lambda f: int(f.name[len(stem) + 2:-5]))


def load(path, label=None):
    """Load a result file, a run folder, or a list of result files read as one run (the
    rounds of one configuration); raises UsageError with one clear line if bad."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise UsageError("no result files to load")
        files = [f for p in path for f in result_files(p)]
        path = Path(path[0]).parent
    else:
        path = Path(path)
        files = result_files(path)
    benchmarks, contexts, methods, file_targets = {}, {}, {}, {}
    for file in files:
        data = _read_json(file)
        context = data.get("context") if isinstance(data.get("context"), dict) else {}
        target = fs_type(context)
        file_targets[file] = target
        contexts.setdefault(target, context)
        methods.update(_method_traits(context, file))
        for entry in data["benchmarks"]:
            _add_entry(benchmarks, entry, target, file, file_round(file))
        _add_aggregate_means(benchmarks, data["benchmarks"], target, file_round(file))
    if not benchmarks:
        raise UsageError(f"{path} has no benchmarks in it; rerun `readpath run`")
    sessions = {Path(f).resolve().parent for f in files}
    run = Run(path, label or "", contexts, benchmarks, files, methods, file_targets,
              session=sessions.pop() if len(sessions) == 1 else None)
    run.label = label or default_label(run)
    return run


def _method_traits(context, path):
    """{name: traits} from the context's `methods` (a JSON list the engine wrote)."""
    text = context.get("methods")
    if not text:
        return {}
    try:
        table = json.loads(text) if isinstance(text, str) else text
        return {entry["name"]: entry for entry in table}
    except (ValueError, TypeError, KeyError):
        raise UsageError(f"{path}: its context's `methods` is not the method table "
                         "readpath_bench writes; the file is damaged")


def paths_file(json_path):
    """The call-path file (`.paths`) recorded beside a myfs result, or None. A run in
    rounds (`<name>-r<N>.json`) shares one `<name>.paths`."""
    json_path = Path(json_path)
    for stem in (json_path.stem, re.sub(r"-r\d+$", "", json_path.stem)):
        candidate = json_path.with_name(stem + ".paths")
        if candidate.is_file():
            return candidate
    return None


def default_label(run):
    """A short name for a run in tables: its kernel, else its file or folder name."""
    kernel = run.context("kernel")
    return str(kernel) if kernel else run.path.stem


def load_all(paths):
    """Load several runs; labels are made unique (the same kernel twice gets #2)."""
    if not paths:
        raise UsageError("give at least one result file or run folder")
    runs = [load(p) for p in paths]
    seen = {}
    for run in runs:
        if run.label in seen:
            seen[run.label] += 1
            run.label = f"{run.label}#{seen[run.label]}"
        else:
            seen[run.label] = 1
    return runs


def format_value(value, unit):
    """Human units: 1.23 GiB/s, 845 ns, 12.5 µs; counts with 3-4 significant figures."""
    if value is None:
        return "-"
    if unit == "B/s":
        for scale, name in ((2**30, "GiB/s"), (2**20, "MiB/s"), (2**10, "KiB/s")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.3g} B/s"
    if unit == "ns":
        for scale, name in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.3g} ns"
    if unit == "/s":
        for scale, name in ((1e9, "G/s"), (1e6, "M/s"), (1e3, "k/s")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.3g} /s"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def parse_size(text):
    """`64M` -> 67108864: a size with an optional K, M or G suffix (powers of 1024)."""
    match = re.fullmatch(r"(\d+)([KMG]?)(i?B)?", text.strip(), re.IGNORECASE)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a size such as 64M or 1G, not {text!r}")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]


def format_size(nbytes):
    """4096 -> 4K, 16777216 -> 16M: how the charts and tables name sizes."""
    if not isinstance(nbytes, (int, float)):
        return str(nbytes)
    for scale, suffix in ((2**30, "G"), (2**20, "M"), (2**10, "K")):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{int(nbytes // scale)}{suffix}"
    return str(int(nbytes))
