#!/usr/bin/python3
"""readpath_bench end to end: --help, --list-methods and --list-profiles, --show-dir, bad input (exit 2),
cell listing, a tiny smoke run whose JSON is checked, threads seen where they ran, cold cells
on a disk, the latency pass (its counters, its sidecar file, a cold one starting cold), the
O_DIRECT methods and the block device's counters, and Ctrl-C removing the files it made.

Usage: bench_cli_test.py READPATH_BENCH SCRATCH_PARENT   (run by CTest)
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

BENCH, PARENT = sys.argv[1], sys.argv[2]
CONTEXT_KEYS = ["kernel", "fs", "fs_options", "accel", "cpu_model", "thp", "read_ahead_kb",
                "fault_around_bytes", "governor", "readpath_commit", "profile", "dir", "methods",
                "myfs_timed_counting", "latency", "latency_timer_ns", "cpu_ns", "runq_ns", "steal_ns",
                "instruction_counting", "instruction_attribution", "pmu_counting"]
NAME = re.compile(r"^[a-z_0-9]+/io:\d+/file:\d+/warm:[01](/qd:\d+)?/manual_time/threads:\d+$")
TRAITS = ["name", "family", "uses_qd", "uses_io", "delivers", "keeps_mapping", "maps_per_pass", "direct",
          "ranks_with", "timed", "request", "summary"]
DEV_COUNTERS = {"dev_reads", "dev_read_merges", "dev_read_kib", "dev_read_avg_kib", "dev_read_ms"}
PROFILE_KEYS = {"name", "summary", "duration", "rounds", "repetitions", "min_time", "methods", "io_sizes",
                "cold_file_sizes",
                "file_sizes", "qds", "threads", "baseline", "latency", "cells", "tcg"}
TCG_KEYS = {"min_time", "file_sizes", "cells"}
# Filesystems without a page cache to evict from: their cold cells skip, saying so.
CANNOT_EVICT = {"tmpfs", "devtmpfs", "ramfs", "overlay"}
failures = []


def run(*args, accel=None, **kw):
    """readpath_bench ARGS; with accel, under READPATH_ACCEL=accel."""
    env = None if accel is None else dict(os.environ, READPATH_ACCEL=accel)
    return subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=240, env=env, **kw)


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"), flush=True)
    if not condition:
        failures.append(name)


def leftovers(directory):
    return [f for f in os.listdir(directory) if f.startswith("readpath-")]


def help_methods(text):
    """Names in --help's paragraph of methods and baselines (rows indented by two spaces)."""
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("Methods ("):
            return re.findall(r"^  ([a-z_0-9]+) ", paragraph, re.M)
    return []


def test_help():
    r = run("--help")
    check("--help exits 0 and explains --dir and --profile",
          r.returncode == 0 and "--dir DIR" in r.stdout and "--profile" in r.stdout, r.stdout + r.stderr)
    listed = run("--list-methods")
    check("--list-methods exits 0", listed.returncode == 0, listed.stderr)
    try:
        table = json.loads(listed.stdout)
    except ValueError as e:
        check("--list-methods prints JSON", False, f"{e}: {listed.stdout[:300]!r}")
        return
    check("--list-methods names equal the names --help lists",
          [m.get("name") for m in table] == help_methods(r.stdout),
          ([m.get("name") for m in table], help_methods(r.stdout)))
    check("every method has every trait, name first",
          all(list(m)[:1] == ["name"] and set(m) == set(TRAITS) for m in table),
          [m for m in table if set(m) != set(TRAITS)][:1])
    by_name = {m["name"]: m for m in table}
    check("mmap_copy keeps its mapping and ranks with mappings",
          by_name.get("mmap_copy", {}).get("keeps_mapping") is True
          and by_name["mmap_copy"]["ranks_with"] == "mapping", by_name.get("mmap_copy"))
    check("the baselines rank only with baselines",
          all(by_name.get(n, {}).get("ranks_with") == "baseline" and by_name[n]["family"] == "baseline"
              for n in ("memcpy", "memcpy_large")), [by_name.get("memcpy"), by_name.get("memcpy_large")])


def test_profiles(scratch):
    r = run("--list-profiles")
    check("--list-profiles exits 0", r.returncode == 0, r.stderr)
    try:
        profiles = json.loads(r.stdout)["profiles"]
    except (ValueError, KeyError, TypeError) as e:
        check("--list-profiles prints {\"profiles\": [...]}", False, f"{e}: {r.stdout[:300]!r}")
        return
    check("profiles tiny, quick, default, full in this order",
          [p.get("name") for p in profiles] == ["tiny", "quick", "default", "full"], [p.get("name") for p in profiles])
    check("every profile has exactly the contract's keys",
          all(set(p) == PROFILE_KEYS and set(p.get("tcg", {})) == TCG_KEYS for p in profiles),
          [sorted(set(p) ^ PROFILE_KEYS) for p in profiles])
    check("rounds and repetitions are positive whole numbers",
          all(isinstance(p["rounds"], int) and isinstance(p["repetitions"], int) and p["rounds"] > 0
              and p["repetitions"] > 0 for p in profiles), [(p["rounds"], p["repetitions"]) for p in profiles])
    check("latency is a boolean in every profile", all(isinstance(p["latency"], bool) for p in profiles),
          [p["latency"] for p in profiles])
    check("TCG files are at most 16M", all(max(p["tcg"]["file_sizes"]) <= 16 << 20 for p in profiles),
          [p["tcg"]["file_sizes"] for p in profiles])
    help_text = run("--help").stdout
    for p in profiles:
        for accel, cells in (("host", p["cells"]), ("tcg", p["tcg"]["cells"])):
            listed = run("--profile", p["name"], "--dir", scratch, "--benchmark_list_tests", accel=accel)
            names = listed.stdout.split()
            check(f"{p['name']} ({accel}): cells {cells} equals the {len(names)} listed",
                  listed.returncode == 0 and len(names) == cells, listed.stderr[-500:])
        check(f"--help lists {p['name']} with its cells and duration",
              re.search(rf"^  {p['name']} +{p['cells']} cells, {re.escape(p['duration'])}$", help_text, re.M),
              help_text)


def context_methods(ctx):
    """The context's method table as {name: traits}, or None when it does not parse."""
    try:
        return {m["name"]: m for m in json.loads(ctx.get("methods", ""))}
    except (ValueError, TypeError, KeyError):
        return None


def test_bad_input(scratch):
    afile = os.path.join(scratch, "plain-file")
    open(afile, "w").close()
    cases = {
        "missing --dir": (["--dir", "/no/such/dir"], "No such file"),
        "--dir is a file": (["--dir", afile], "not a directory"),
        "unknown method": (["--methods", "read,bogus"], "unknown method"),
        "bad size": (["--io-sizes", "4Q"], "--io-sizes"),
        "unknown profile": (["--profile", "huge"], "unknown profile"),
        "unknown option": (["--bogus"], "bogus"),
        "filter matching nothing": (["--profile", "tiny", "--benchmark_filter=^nothing$"], "no cell matches"),
    }
    for name, (args, text) in cases.items():
        r = run(*args)
        check(f"{name} exits 2 with a message", r.returncode == 2 and text in r.stderr,
              f"status {r.returncode}, stderr {r.stderr!r}")
        check(f"{name} prints no traceback or abort", "terminate called" not in r.stderr, r.stderr)
    os.unlink(afile)


def test_show_dir(scratch):
    given = run("--dir", scratch, "--show-dir")
    try:
        shown = json.loads(given.stdout)
    except ValueError as e:
        check("--show-dir prints JSON", False, f"{e}: {given.stdout!r} {given.stderr!r}")
        return
    check("--show-dir with --dir names that directory, not fresh, without a note",
          shown == {"dir": scratch, "fs": shown.get("fs"), "fresh": False, "note": ""} and shown["fs"], shown)
    default = json.loads(run("--show-dir").stdout)
    check("--show-dir without --dir names a fresh directory's parent",
          default["fresh"] is True and os.path.isdir(default["dir"]), default)
    check("the default is /dev/shm exactly when it is a tmpfs, and a note says why when it is not",
          (default["dir"] == "/dev/shm" and default["fs"] == "tmpfs") == (default["note"] == ""), default)


def test_list(scratch):
    r = run("--profile", "tiny", "--dir", scratch, "--benchmark_list_tests")
    names = r.stdout.split()
    check("tiny lists cells", r.returncode == 0 and len(names) > 5, r.stderr)
    bad = [n for n in names if not NAME.match(n)]
    check("cell names follow <method>/io:/file:/warm:[/qd:]", not bad, bad[:3])
    check("listing creates no files", not leftovers(scratch), leftovers(scratch))


def test_smoke(scratch):
    out = os.path.join(scratch, "out.json")
    r = run("--profile", "tiny", "--dir", scratch,
            "--benchmark_filter=^(read|uring|mmap_touch)/io:4096/",
            f"--benchmark_out={out}", "--benchmark_out_format=json")
    check("tiny smoke run exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    data = json.load(open(out))
    os.unlink(out)
    ctx = data["context"]
    missing = [k for k in CONTEXT_KEYS if k not in ctx]
    check("context has every contract key", not missing, missing)
    check("accel is host without READPATH_ACCEL",
          ctx.get("accel") == ("host" if not os.environ.get("READPATH_ACCEL") else os.environ["READPATH_ACCEL"]))
    check("profile recorded", ctx.get("profile") == "tiny")
    check("myfs_timed_counting is n/a off myfs", ctx.get("myfs_timed_counting") == "n/a",
          ctx.get("myfs_timed_counting"))
    benches = data["benchmarks"]
    methods = {b["name"].split("/")[0] for b in benches}
    check("the filter picked read, uring and mmap_touch", methods == {"read", "uring", "mmap_touch"}, methods)
    table = context_methods(ctx)
    # The context describes every registered method; the filter then ran only some.
    check("context methods parse and cover the cells' methods",
          table is not None and methods <= set(table), (methods, table and sorted(table)))
    ran = [b for b in benches if not b.get("error_occurred")]
    check("warm cells ran", any("/warm:1/" in b["name"] for b in ran), [b.get("error_message") for b in benches])
    cold = [b for b in benches if "/warm:0/" in b["name"]]
    check("the filter picked cold cells", cold, [b["name"] for b in benches])
    fs = ctx.get("fs", "").split(" ")[0]
    if fs in CANNOT_EVICT:
        print(f"note: the scratch directory is on {fs}, which cannot evict; cold cells skip there")
    else:
        for b in cold:
            check(f"{b['name']} ran cold on {fs}", not b.get("error_occurred"), b.get("error_message"))
    for b in ran:
        for counter in ("bytes_per_second", "items_per_second", "minflt", "majflt", "ctxsw"):
            check(f"{b['name']} has {counter}", counter in b, sorted(b))
        check(f"{b['name']} moved bytes", b.get("bytes_per_second", 0) > 0)
        # One reading thread cannot run longer than the pass lasted (its clock reads sit
        # just outside the pass: a microsecond of slack), and waiting to run is not running.
        check(f"{b['name']} has cpu_ns within its wall time",
              0 < b.get("cpu_ns", 0) <= b["real_time"] * 1.01 + 1000, (b.get("cpu_ns"), b["real_time"]))
        if not ctx["runq_ns"].startswith("not recorded"):
            check(f"{b['name']} has runq_ns", b.get("runq_ns", -1) >= 0, sorted(b))
    for b in benches:
        if b.get("error_occurred"):
            check(f"{b['name']} skipped with a reason", "cold" in b.get("error_message", ""), b)
    touch = [b for b in ran if b["name"].startswith("mmap_touch") and "/warm:1/" in b["name"]]
    check("mmap_touch takes minor faults", touch and touch[0]["minflt"] > 0, touch)
    # The PMU's counts where one counts; otherwise the context says why and no cell holds a
    # zero for "not counted".
    pmu = ctx.get("pmu_counting", "")
    check("pmu_counting says on or why it is off", pmu.startswith(("on: ", "off: ")), pmu)
    pmu_cells = [b["name"] for b in ran if any(k.startswith("pmu_") for k in b)]
    if pmu.startswith("on: "):
        check("every cell has the PMU's counts", len(pmu_cells) == len(ran), pmu_cells)
        for b in ran:
            check(f"{b['name']} executed kernel and user instructions",
                  b["pmu_kernel_instructions_per_request"] > 0 and b["pmu_user_instructions_per_request"] > 0, b)
    else:
        check("no cell has PMU counters where none counts", not pmu_cells, pmu_cells)
    check("files are removed after the run", not leftovers(scratch), leftovers(scratch))


def test_threads(scratch):
    out = os.path.join(scratch, "threads.json")
    cores = len(os.sched_getaffinity(0))
    r = run("--dir", scratch, "--methods", "pread,uring,mmap_copy", "--threads", "2", "--placement",
            "cores", "--file-sizes", "1M", "--io-sizes", "64K", "--qd", "4", "--cache", "warm",
            "--benchmark_min_time=0.01", "--latency", f"--benchmark_out={out}", "--benchmark_out_format=json")
    check("a two-thread run exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    data = json.load(open(out))
    benches = data["benchmarks"]
    os.unlink(out)
    check("three two-thread cells", len(benches) == 3 and all(b["threads"] == 2 for b in benches),
          [b["name"] for b in benches])
    # Each thread reads half of the 1M file in 64K requests: 16 requests merged.
    for b in benches:
        if not b.get("error_occurred"):
            check(f"{b['name']} merges both threads' latencies", b.get("lat_count") == 16, b.get("lat_count"))
    table = context_methods(data["context"])
    check("context methods are exactly the cells' methods",
          table is not None and set(table) == {b["name"].split("/")[0] for b in benches}, table and sorted(table))
    # "t0 cpus 0 ran 0; t1 cpus 1 ran 1; ...": each thread's allowed CPUs and where it ran.
    seen = re.compile(r"^t0 cpus (\d+) ran ([\d,-]+); t1 cpus (\d+) ran ([\d,-]+)(;|$)")
    for b in benches:
        if cores >= 2:
            m = seen.match(b.get("label", ""))
            check(f"{b['name']} ran pinned, each thread where it was placed",
                  not b.get("error_occurred") and m and m.group(1) == m.group(2) and m.group(3) == m.group(4)
                  and m.group(1) != m.group(3), b.get("error_message") or b.get("label"))
        else:
            check(f"{b['name']} skipped: one core", "placement cores" in b.get("error_message", ""), b)


def test_threads_cold(scratch):
    """Two threads, cold cache: thread 0 evicts the whole file between passes."""
    out = os.path.join(scratch, "cold.json")
    r = run("--dir", scratch, "--methods", "pread,mmap_touch", "--threads", "2", "--file-sizes", "1M",
            "--io-sizes", "16K", "--cache", "cold", "--benchmark_min_time=0.01",
            f"--benchmark_out={out}", "--benchmark_out_format=json")
    check("a two-thread cold run exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    benches = json.load(open(out))["benchmarks"]
    os.unlink(out)
    for b in benches:
        message = b.get("error_message", "")
        if "cannot evict" in message or "left 100.0%" in message:
            print(f"note: {b['name']} skipped: the scratch filesystem cannot evict ({message})")
            continue
        check(f"{b['name']} ran cold", not b.get("error_occurred"), message)
        if b["name"].startswith("mmap_touch") and not b.get("error_occurred"):
            check(f"{b['name']} takes major faults", b["majflt"] > 0, b["majflt"])


LATENCY_COUNTERS = ["lat_count", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
                    "lat_mean_ns"]


def bucket_edges(scheme):
    """Every bucket's (lower, upper), recomputed from the sidecar's bucket_scheme as its
    `edges` sentence says."""
    width = 1 << scheme["sub_bucket_bits"]
    edges = []
    for i in range(scheme["buckets"]):
        k, s = divmod(i, width)
        edges.append((i, i + 1) if k == 0 else ((width + s) << (k - 1), (width + s + 1) << (k - 1)))
    return edges


def ran_repetitions(data):
    return [b for b in data["benchmarks"] if b.get("run_type") == "iteration" and not b.get("error_occurred")]


def test_latency(scratch):
    out = os.path.join(scratch, "latency.json")
    r = run("--profile", "tiny", "--dir", scratch, "--latency", "--benchmark_repetitions=2",
            "--benchmark_filter=^(pread|uring|mmap_copy|mmap_touch|mmap_populate)/io:4096/file:[0-9]+/warm:1/",
            f"--benchmark_out={out}", "--benchmark_out_format=json")
    check("a run with --latency exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    data = json.load(open(out))
    ctx = data["context"]
    check("context says latency on", ctx.get("latency") == "on", ctx.get("latency"))
    check("context gives the timer's cost in ns", ctx.get("latency_timer_ns", "").isdigit(), ctx.get("latency_timer_ns"))
    ran = ran_repetitions(data)
    check("two repetitions of each of the six cells ran", len(ran) == 12, [b["name"] for b in ran])
    for b in ran:
        missing = [c for c in LATENCY_COUNTERS if c not in b]
        check(f"{b['name']} has every latency counter", not missing, missing)
        if missing:
            continue
        pcts = [b[c] for c in ("lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns")]
        check(f"{b['name']}: p50 <= p90 <= p99 <= p99.9 <= max", pcts == sorted(pcts) and pcts[0] > 0, pcts)
        # 1M in 4K requests or pages; the populating call is one request per pass.
        expected = 1 if b["name"].startswith("mmap_populate") else 256
        check(f"{b['name']} timed {expected} requests", b["lat_count"] == expected, b["lat_count"])
    sidecar_path = out + ".latency.json"
    check("the sidecar file is written", os.path.exists(sidecar_path))
    if not os.path.exists(sidecar_path):
        return
    sidecar = json.load(open(sidecar_path))
    check("the sidecar holds bucket_scheme and cells", set(sidecar) == {"bucket_scheme", "cells"}, sorted(sidecar))
    check("the sidecar's cells are the cells that ran", set(sidecar["cells"]) == {b["name"] for b in ran},
          sorted(sidecar["cells"]))
    edges = set(bucket_edges(sidecar["bucket_scheme"]))
    for b in ran:
        entries = [e for e in sidecar["cells"].get(b["name"], []) if e.get("repetition") == b["repetition_index"]]
        check(f"{b['name']} repetition {b['repetition_index']} has one histogram", len(entries) == 1, entries)
        if len(entries) != 1:
            continue
        counts = entries[0]["counts"]
        check(f"{b['name']}: its counts sum to lat_count", sum(n for _, _, n in counts) == b["lat_count"],
              (sum(n for _, _, n in counts), b["lat_count"]))
        check(f"{b['name']}: every bucket is one the scheme makes, in order, none empty",
              all((lo, hi) in edges and n > 0 for lo, hi, n in counts) and counts == sorted(counts), counts[:5])
        check(f"{b['name']}: max lies in the last bucket", counts[-1][0] <= b["lat_max_ns"] < counts[-1][1],
              (counts[-1], b["lat_max_ns"]))


def test_no_latency(scratch):
    out = os.path.join(scratch, "plain.json")
    stale = out + ".latency.json"
    with open(stale, "w") as f:
        f.write("an earlier run's")
    r = run("--profile", "tiny", "--dir", scratch, "--no-latency", "--benchmark_filter=^pread/io:4096/",
            f"--benchmark_out={out}", "--benchmark_out_format=json")
    check("a run with --no-latency exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    data = json.load(open(out))
    check("context says latency off", data["context"].get("latency") == "off", data["context"].get("latency"))
    ran = ran_repetitions(data)
    check("without a latency pass no cell has latency counters",
          ran and not any(c in b for b in ran for c in LATENCY_COUNTERS), [sorted(b) for b in ran][:1])
    check("an earlier run's sidecar file is gone", not os.path.exists(stale))


def test_latency_cold(scratch, fs):
    """Known effect: a cold cell's latency pass starts cold, so its requests wait for the disk."""
    if fs in CANNOT_EVICT:
        print(f"note: the scratch directory is on {fs}, which cannot evict; no cold latency pass to check")
        return
    out = os.path.join(scratch, "cold-latency.json")
    r = run("--dir", scratch, "--methods", "pread", "--io-sizes", "16K", "--file-sizes", "4M", "--threads", "1",
            "--latency", "--benchmark_min_time=0.01", "--benchmark_repetitions=3", f"--benchmark_out={out}",
            "--benchmark_out_format=json")
    check("a cold and warm latency run exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    means = {0: [], 1: []}
    for b in ran_repetitions(json.load(open(out))):
        means[int(re.search(r"/warm:([01])/", b["name"]).group(1))].append(b["lat_mean_ns"])
    warm, cold = sorted(means[1]), sorted(means[0])
    check("cold and warm cells ran three times each", len(warm) == 3 and len(cold) == 3, means)
    if len(warm) == 3 and len(cold) == 3:
        check("a cold latency pass waits for the disk: its mean is over 3x the warm one",
              cold[1] > 3 * warm[1], (cold, warm))


def scratch_fs(scratch):
    """The filesystem readpath_bench reports for the scratch directory."""
    r = run("--dir", scratch, "--methods", "pread", "--io-sizes", "4K", "--file-sizes", "64K", "--cache", "warm",
            "--threads", "1", "--benchmark_min_time=0.001", "--benchmark_format=json")
    try:
        return json.loads(r.stdout)["context"]["fs"].split(" ")[0]
    except (ValueError, KeyError):
        return "unknown"


def test_direct(scratch):
    """O_DIRECT cells: skipped with the reason in memory (tmpfs); on a block device each request is one
    device read of io bytes (dev_reads per pass = the file's blocks), while a warm buffered
    cell reads nothing from the device."""
    # /dev/shm is a tmpfs, or in a minimal root a directory of devtmpfs: memory either way.
    r = run("--dir", "/dev/shm", "--methods", "pread_direct", "--io-sizes", "4K", "--file-sizes", "64K",
            "--benchmark_min_time=0.001", "--benchmark_format=json")
    benches = json.loads(r.stdout)["benchmarks"] if r.returncode == 0 else []
    fs = json.loads(r.stdout)["context"]["fs"].split(" ")[0] if r.returncode == 0 else "?"
    check(f"pread_direct on /dev/shm ({fs}) is one cold cell, skipped because it has no device",
          [b["name"] for b in benches] == ["pread_direct/io:4096/file:65536/warm:0/manual_time/threads:1"]
          and f"{fs} keeps its files in the page cache" in benches[0].get("error_message", ""),
          (r.returncode, benches, r.stderr[-500:]))
    # The device's counters are the whole disk's: on a shared disk other processes' I/O adds
    # to a pass now and then, so each cell is judged by its quietest of five passes.
    r = run("--dir", scratch, "--methods", "pread_direct,uring_direct,pread", "--io-sizes", "16K",
            "--file-sizes", "1M", "--qd", "1", "--threads", "1", "--benchmark_repetitions=5",
            "--benchmark_min_time=0.001", "--benchmark_format=json")
    check("a direct run on the scratch directory exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode != 0:
        return
    data = json.loads(r.stdout)
    if "block_device" not in data["context"]:
        check("no dev_ counters off a block device",
              not any(DEV_COUNTERS & set(b) for b in data["benchmarks"]), data["benchmarks"][:1])
        print("note: the scratch directory is on no block device; no device counters to check")
        return
    check("the context names the device",
          all(data["context"].get(k) for k in ("block_device", "block_scheduler", "block_model")), data["context"])
    passes = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "iteration":
            passes.setdefault(b["name"].split("/manual_time")[0], []).append(b)
    # The pass with the fewest device reads: the one least disturbed by other I/O.
    cells = {name: min(bs, key=lambda b: b.get("dev_reads", 99)) for name, bs in passes.items()}
    for name in ("pread_direct/io:16384/file:1048576/warm:0", "uring_direct/io:16384/file:1048576/warm:0/qd:1"):
        b = cells.get(name, {})
        check(f"{name} ran with every device counter", not b.get("error_occurred") and DEV_COUNTERS <= set(b), b)
        # 64 requests of 16K, one at a time.
        check(f"{name}: one device read per request, of 16K",
              64 <= b.get("dev_reads", 0) <= 70 and 15 <= b.get("dev_read_avg_kib", 0) <= 17, b)
    warm = cells.get("pread/io:16384/file:1048576/warm:1", {})
    check("a warm buffered cell reads next to nothing from the device", warm.get("dev_reads", 99) <= 2, warm)


def test_interrupt(scratch):
    proc = subprocess.Popen([BENCH, "--profile", "quick", "--dir", scratch, "--methods", "pread",
                             "--file-sizes", "64M", "--benchmark_min_time=5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    seen = False
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "preparing" in line:
            seen = True
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    check("an interrupted run had started preparing", seen)
    check("SIGINT ends the run", proc.returncode == -signal.SIGINT, proc.returncode)
    check("SIGINT removes the files", not leftovers(scratch), leftovers(scratch))


def main():
    if not os.access(BENCH, os.X_OK):
        print(f"skip: {BENCH} is not built")
        return 77
    with tempfile.TemporaryDirectory(prefix="bench-cli-", dir=PARENT) as scratch:
        test_help()
        test_profiles(scratch)
        test_bad_input(scratch)
        test_show_dir(scratch)
        test_list(scratch)
        test_smoke(scratch)
        test_threads(scratch)
        test_threads_cold(scratch)
        test_latency(scratch)
        test_no_latency(scratch)
        test_latency_cold(scratch, scratch_fs(scratch))
        test_direct(scratch)
        test_interrupt(scratch)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
