"""`readpath calibrate`: the same workloads with readpath_bench and with fio on the same file,
like for like.

For each workload, readpath_bench prepares a file (--keep-files), times its cell with
repetitions, and fio then reads that very file with the matching engine (psync, io_uring,
mmap), block size and queue depth for the same total time. The table shows both
bandwidths and their ratio (readpath/fio; above 1 means readpath's loop costs less), the
repetitions' coefficient of variation, and read(2) against plain memcpy bandwidth.

Like for like means:
- fio batches as readpath does: at queue depth QD readpath fills every free slot, submits
  them in one io_uring_enter that also waits for one completion, then reaps all that are
  there; fio gets --iodepth_batch_submit=QD --iodepth_batch_complete_min=1
  --iodepth_batch_complete_max=QD (its defaults submit and reap one at a time).
- fio keeps no per-I/O clocks (--gtod_reduce=1): readpath reads the clock per pass.
- fio skips its first second (--ramp_time=1s): a fresh job often starts with its thread and
  its io-wq worker on one CPU, which on a 2-vCPU VM is 5-10 times faster than the steady
  state, where they sit on two CPUs and every request wakes a halted one.
- Both run on the same CPUs (--cpus, default one CPU): unpinned, where the scheduler puts a
  thread and its io-wq worker decides a tmpfs io_uring qd1 cell by a factor of ten, and fio's
  parent process, which wakes every 10 ms, shortens the halted CPU's wake-up for fio alone.
Warm page cache, one thread. Timings under TCG (READPATH_ACCEL=tcg) mean nothing.
READPATH_BENCH=PATH uses that readpath_bench instead of building one.

Examples:
  readpath calibrate                      every workload on one CPU, in a scratch directory
  readpath calibrate --cpus 0,1           the reader and io_uring's worker on two CPUs
"""

import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import build, cli, engine, packages, results, stats
from ..errors import RunError, UsageError


K, M = 1024, 1024 * 1024

# (label, readpath method, io bytes, queue depth or None, fio engine)
WORKLOADS = [
    ("read 4K", "read", 4 * K, None, "psync"),
    ("read 64K", "read", 64 * K, None, "psync"),
    ("read 1M", "read", 1 * M, None, "psync"),
    ("uring 4K qd1", "uring", 4 * K, 1, "io_uring"),
    ("uring 4K qd32", "uring", 4 * K, 32, "io_uring"),
    ("uring 64K qd32", "uring", 64 * K, 32, "io_uring"),
    ("mmap_copy 64K", "mmap_copy", 64 * K, None, "mmap"),
]
WORKLOAD_NAMES = [w[0] for w in WORKLOADS]
FIO_RAMP_SECONDS = 1


def add_arguments(parser):
    parser.add_argument("--dir", metavar="DIR", type=cli.directory,
                        help="directory for the file (default: a fresh directory where readpath_bench "
                             "would put its own: /dev/shm, or the tmpfs it takes instead)")
    parser.add_argument("--file-size", type=cli.size, default="256M", metavar="SIZE",
                        help="file size, with K/M/G suffix (default 256M)")
    parser.add_argument("--repetitions", type=int, default=5, metavar="N",
                        help="readpath_bench repetitions per cell (default 5)")
    parser.add_argument("--min-time", type=float, default=0.5, metavar="S",
                        help="seconds per repetition; fio runs N*S seconds (default 0.5)")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="repeat the whole comparison N times and also print the medians "
                             "(a busy machine drifts; default 1)")
    parser.add_argument("--cpus", default="first", metavar="LIST",
                        help="CPUs both tools run on, e.g. 0 or 0,1 (default: the first CPU "
                             "this process may use; `all`: unpinned, where the scheduler's "
                             "placement decides io_uring cells on tmpfs)")
    parser.add_argument("--only", action="append", metavar="WORKLOAD", choices=WORKLOAD_NAMES,
                        help="run only this workload (repeatable): " + ", ".join(WORKLOAD_NAMES))
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")


def parse_cpus(text):
    """The CPU set both tools run on: None for unpinned."""
    allowed = sorted(os.sched_getaffinity(0))
    if text == "all":
        return None
    if text == "first":
        return {allowed[0]}
    try:
        cpus = {int(c) for c in text.split(",") if c.strip()}
    except ValueError:
        raise UsageError(f"--cpus {text!r}: expected CPU numbers such as 0 or 0,1, or all")
    if not cpus or not cpus <= set(allowed):
        raise UsageError(f"--cpus {text!r}: this process may use CPUs "
                         f"{','.join(map(str, allowed))}")
    return cpus


def _pinned(cpus):
    """A preexec_fn that runs the child on cpus (nothing when unpinned)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def fio_options(engine_name, qd):
    """The fio options that make its workload readpath's (see the module docstring)."""
    options = ["--gtod_reduce=1", f"--ramp_time={FIO_RAMP_SECONDS}s"]
    if engine_name == "io_uring":
        options += [f"--iodepth_batch_submit={qd}", "--iodepth_batch_complete_min=1",
                    f"--iodepth_batch_complete_max={qd}"]
    return options


def run_readpath(binary, directory, size, method, io, qd, repetitions, min_time, cpus):
    """Times one cell (and the memcpy baselines for read); returns ({method: (median,
    cv)}, the path of the file it kept)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = Path(out.name)
    cmd = [str(binary), "--dir", directory, "--keep-files", "--profile", "tiny",
           "--methods", method, "--io-sizes", str(io), "--file-sizes", str(size),
           "--threads", "1", "--cache", "warm", "--qd", str(qd or 1), "--no-latency",
           f"--benchmark_repetitions={repetitions}", f"--benchmark_min_time={min_time}",
           f"--benchmark_out={out_path}", "--benchmark_out_format=json"]
    if method == "read":
        cmd.append("--baseline")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_pinned(cpus))
        kept = re.search(r"kept (\S+) \(inode", proc.stderr)
        if proc.returncode != 0:
            raise RunError(f"readpath_bench failed ({proc.returncode}): "
                           f"{engine.last_line(proc.stderr)}")
        run = results.load(out_path)
    finally:
        out_path.unlink(missing_ok=True)
        Path(str(out_path) + results.LATENCY_SIDECAR).unlink(missing_ok=True)
    measured = {}
    for bench in run.benchmarks.values():
        if bench.skipped:
            raise RunError(f"readpath_bench skipped {bench.name}: {bench.skipped}")
        values = bench.values("bytes_per_second")
        measured[bench.method] = (stats.median(values), stats.cv(values))
    if not kept:
        raise RunError("readpath_bench did not report the file it kept")
    return measured, kept.group(1)


def fio_command(path, size, io, qd, engine_name, seconds):
    return ["fio", "--name=calibrate", f"--filename={path}", "--readonly", "--rw=read",
            f"--bs={io}", f"--size={size}", f"--ioengine={engine_name}", f"--iodepth={qd or 1}",
            "--invalidate=0", "--time_based", f"--runtime={round(max(1.0, seconds) * 1000)}ms",
            *fio_options(engine_name, qd or 1), "--output-format=json"]


def run_fio(cmd, cpus):
    """fio's read bandwidth (bytes/s), or raises RunError with fio's complaint."""
    engine_name = next(a.split("=", 1)[1] for a in cmd if a.startswith("--ioengine="))
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_pinned(cpus))
    if proc.returncode != 0:
        raise RunError(f"fio ({engine_name}) failed: {engine.last_line(proc.stderr)}")
    try:
        start = proc.stdout.index("{")  # fio may print notes before the JSON
        job = json.loads(proc.stdout[start:])["jobs"][0]
    except (ValueError, KeyError, IndexError) as err:
        raise RunError(f"fio ({engine_name}) printed no usable JSON ({err})") from None
    return job["read"]["bw_bytes"]


def gib(value):
    return "-" if value is None else f"{value / 2**30:7.2f}"


def print_header():
    print(f"{'workload':16} {'readpath GiB/s':>14} {'cv':>6} {'fio GiB/s':>10} {'readpath/fio':>12}",
          flush=True)


def print_row(row):
    ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.2f}"
    cv = "-" if row.get("readpath_cv") is None else f"{row['readpath_cv'] * 100:.1f}%"
    print(f"{row['workload']:16} {gib(row.get('readpath_bytes_per_second')):>14} {cv:>6} "
          f"{gib(row.get('fio_bytes_per_second')):>10} {ratio:>12}", flush=True)


def run(args):
    packages.ensure(packages.BUILD + ["fio"], "readpath calibrate")
    if args.repetitions < 2:
        raise UsageError("--repetitions must be at least 2 (the CV needs two)")
    if args.min_time <= 0:
        raise UsageError("--min-time must be positive")
    if args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    size = args.file_size
    cpus = parse_cpus(args.cpus)
    if os.environ.get("READPATH_BENCH"):  # a given binary (the CTest test passes its own)
        binary = Path(os.environ["READPATH_BENCH"])
        if not os.access(binary, os.X_OK):
            raise UsageError(f"READPATH_BENCH={binary} is not an executable")
    else:
        binary = build.bench()
    if os.environ.get("READPATH_ACCEL") == "tcg":
        print("calibrate: under TCG these timings are not meaningful", file=sys.stderr)

    if args.dir:
        directory = args.dir
    else:
        scratch = engine.scratch_dir(binary)
        if scratch["note"]:
            print(f"calibrate: {scratch['note']}", file=sys.stderr)
        directory = tempfile.mkdtemp(prefix="readpath-calibrate-", dir=scratch["dir"])
    rounds, memcpys = [], []
    seconds = args.repetitions * args.min_time
    where = "unpinned" if cpus is None else f"on CPU {','.join(map(str, sorted(cpus)))}"
    print(f"calibrate: both tools {where}; fio also gets "
          f"{' '.join(fio_options('io_uring', 'QD'))} (io_uring) or "
          f"{' '.join(fio_options('psync', 1))} (psync, mmap)", flush=True)
    try:
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}", flush=True)
            print_header()
            rows = []
            for label, method, io, qd, engine_name in WORKLOADS:
                if args.only and label not in args.only:
                    continue
                measured, path = run_readpath(binary, directory, size, method, io, qd,
                                              args.repetitions, args.min_time, cpus)
                fio = fio_command(path, size, io, qd, engine_name, seconds)
                try:
                    fio_bw = run_fio(fio, cpus)
                finally:
                    Path(path).unlink(missing_ok=True)
                ours, ours_cv = measured[method]
                row = {"workload": label, "engine": engine_name,
                       "readpath_bytes_per_second": ours, "readpath_cv": ours_cv,
                       "fio_bytes_per_second": fio_bw,
                       "ratio": ours / fio_bw if fio_bw else None,
                       "fio_command": shlex.join(fio)}
                if "memcpy" in measured and io == M:
                    memcpys.append((measured["memcpy"][0], measured["memcpy_large"][0]))
                    row["memcpy_bytes_per_second"], row["memcpy_large_bytes_per_second"] = memcpys[-1]
                rows.append(row)
                print_row(row)
            rounds.append(rows)
    finally:
        if not args.dir:
            shutil.rmtree(directory, ignore_errors=True)

    summary = rounds[0]
    if args.rounds > 1:
        summary = []
        for i, first in enumerate(rounds[0]):
            same = [r[i] for r in rounds]
            median = {key: statistics.median(x[key] for x in same if x[key] is not None)
                      for key in ("readpath_bytes_per_second", "readpath_cv", "fio_bytes_per_second", "ratio")
                      if any(x[key] is not None for x in same)}
            summary.append({"workload": first["workload"], "engine": first["engine"],
                            "fio_command": first["fio_command"], **median})
        print(f"\nmedian of {args.rounds} rounds (readpath/fio: median of the per-round ratios, "
              "each from runs seconds apart)")
        print_header()
        for row in summary:
            print_row(row)

    memcpy = statistics.median(m[0] for m in memcpys) if memcpys else None
    memcpy_large = statistics.median(m[1] for m in memcpys) if memcpys else None
    read_1m = next((r for r in summary if r["workload"] == "read 1M"), None)
    if memcpy and read_1m:
        ours = read_1m["readpath_bytes_per_second"]
        print(f"\nread 1M reaches {ours / memcpy:.0%} of single-thread memcpy into a reused 1 MiB buffer "
              f"({gib(memcpy).strip()} GiB/s) and {ours / memcpy_large:.0%} of memory-to-memory "
              f"memcpy ({gib(memcpy_large).strip()} GiB/s)")
    slower = [r["workload"] for r in summary if (r.get("ratio") or 1) < 1]
    noisy = [r["workload"] for r in summary if (r.get("readpath_cv") or 0) > 0.03]
    if slower:
        print("readpath below fio on: " + ", ".join(slower))
    if noisy:
        print("CV above 3% (a busy machine?) on: " + ", ".join(noisy))
    if args.json:
        Path(args.json).write_text(json.dumps({"file_size": size, "cpus": sorted(cpus) if cpus else "all",
                                               "rounds": rounds, "summary": summary,
                                               "memcpy_bytes_per_second": memcpy,
                                               "memcpy_large_bytes_per_second": memcpy_large},
                                              indent=2) + "\n")
    return 0
