"""Known effects prove the measurement: `readpath compare-options` on each test kernel runs
the same myfs options twice (A/A), fault-around off and a modelled device latency, all
interleaved in one guest, and the comparison must see exactly what was changed on purpose:
nothing for A/A; costlier warm mmap faults (and not read(2)/pread(2)) without fault-around,
in instructions under TCG (emulated time is no measure of a fault path's cost) and in time
under KVM; slower cold reads (and not warm ones) with a device latency, and per request a
longer tail of cold 4K reads with the same median.

The device latency spins (read_latency_wait=spin) rather than sleeps: a reader that sleeps
lets its CPU idle, and on a CI host an idle CPU came back slower for the whole pass (every
4K request's median 1.56x), an effect of sleeping, not of the latency this test plants.

Changes count only beyond 5% (--min-effect 5): under TCG a repetition varies by 5-20%, so
an A/A comparison at the plain 5% family-wise level would flag a cell in about one run of
ten; the planted effects are +80% and more.
"""

import subprocess

import pytest

from conftest import REPO
from readpath_lib import build, compare, guest_suite, results

DEVICE_NS = 1_000_000
LATENCY = f"read_latency_ns={DEVICE_NS},read_latency_wait=spin"
CONFIGS = ["default", "default", "fault_around=off", LATENCY]
LABELS = ["default", "default#2", "fault_around=off", LATENCY]
METHODS = "read,pread,mmap_touch,mmap_populate,mmap_copy"
MIN_EFFECT = 5
# 18 repetitions a set: on a CI host that is busy with other guests, a 2x effect at 12
# repetitions has come out at p = 0.01, short of Holm over the question's 8 cells (the
# fault-around effect in emulated time, when myfs still unwound stacks in timed passes).
ROUNDS = 6


@pytest.fixture(scope="module")
def effects(kernel, tmp_path_factory):
    """(runs, time tables, report text) of one compare-options run on `kernel`."""
    if not build.bench_binary().is_file():
        pytest.skip(f"{build.bench_binary()} is not built (readpath test builds it first)")
    out = tmp_path_factory.mktemp(f"effects-{kernel.release}")
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "readpath"),
                           "compare-options", *CONFIGS, "--kernel", kernel.release,
                           "--profile", "tiny", "--rounds", str(ROUNDS), "--repetitions", "3",
                           "--methods", METHODS, "--min-effect", str(MIN_EFFECT), "--no-build",
                           "--out", str(out)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [results.load(results.round_files(out / "raw", f"myfs-{guest_suite.slug(label)}"),
                         label=label) for label in LABELS]
    tables = compare.compare(runs, ["time"], min_effect=MIN_EFFECT)
    return runs, tables, (out / "report.md").read_text()


def test_device_latency_moves_the_tail_of_cold_4k_reads_and_not_their_median(effects):
    """The tiny profile times each request too (readpath_bench --latency). A device latency
    reaches only the requests that start a readahead (11 of a 1M file's 256 4K reads, 4%):
    every latency pass's p99 of a cold 4K read holds a device wait and its median none, and
    compare sees the p99 rise by a margin (x1.3) and not the median. The rise is not asked
    to pass Holm over the question: under TCG on a host whose two cores were busy with
    stress-ng and a second guest, the ordinary tail reached 1.4-2 ms beside the 1 ms device
    (read x1.9 [0.98, ...], pread x2.2 [1.33, 3.64], p = 0.013), while every latency pass's
    p99 was 1.7-7.9 ms and its median 17-33 us."""
    runs, _, _ = effects
    tables = compare.compare(runs, ["lat_p50_ns", "lat_p99_ns"], min_effect=MIN_EFFECT)
    column = LABELS.index(LATENCY) - 1
    found = {}
    for table in tables:
        for row in table.rows:
            b = row.bench
            if b.method in ("read", "pread") and b.params.get("io") == 4096 and \
                    b.params.get("warm") == 0:
                found[(b.method, table.metric.key)] = row.deltas[column]
    assert found, "no latency of cold 4K reads in the runs"
    for (method, metric), d in found.items():
        if metric == "lat_p99_ns":
            assert d.ratio is not None and d.ratio > 1.3, (method, metric, d)
        else:
            assert not d.significant, (method, metric, d)
    # The bucket that holds a wait of exactly the latency starts up to 1/128 below it.
    waited = DEVICE_NS * 127 // 128
    with_latency = runs[LABELS.index(LATENCY)]
    for bench in with_latency.benchmarks.values():
        if bench.method in ("read", "pread") and bench.params.get("io") == 4096 and bench.params.get("warm") == 0:
            assert min(bench.values("lat_p99_ns")) >= waited, (bench.key, bench.values("lat_p99_ns"))
            assert max(bench.values("lat_p50_ns")) < waited, (bench.key, bench.values("lat_p50_ns"))


def changes(tables, label):
    """{(method, io, warm): Delta} of one compared configuration's timings."""
    column = LABELS.index(label) - 1
    out = {}
    for table in tables:
        for row in table.rows:
            p = row.bench.params
            out[(row.bench.method, p.get("io"), p.get("warm"))] = row.deltas[column]
    return out


def test_the_same_options_twice_flag_no_timing(effects):
    _, tables, _ = effects
    flagged = {k: f"{d.delta_pct:+.1f}%" for k, d in changes(tables, "default#2").items()
               if d.significant}
    assert not flagged, f"A/A comparison flagged {flagged}"


def test_fault_around_off_costs_warm_mmap_faults_and_no_read(effects):
    """Under TCG by the instructions counted (x3.4 per warm page on 6.12; no emulated time
    is asserted), under KVM by the time."""
    runs, tables, _ = effects
    if any(b.values("instructions_per_request") for b in runs[0].benchmarks.values()):
        tables = compare.compare(runs, ["instructions_per_request"], min_effect=MIN_EFFECT)
    seen = changes(tables, "fault_around=off")
    for method in ("mmap_touch", "mmap_populate"):
        d = seen[(method, 4096, 1)]
        assert d.significant and d.regression and d.delta_pct > 0, (method, d)
    reads = {k: d for k, d in seen.items() if k[0] in ("read", "pread") and d.significant}
    assert not reads, f"fault_around=off flagged read(2)/pread(2) cells: {reads}"


def test_device_latency_slows_cold_reads_and_not_warm_ones(effects):
    """Under KVM by the time. Under TCG by the instructions counted: the modelled device
    spins (myfs_model_latency) in cold reads, a warm read never reaches it; emulated time
    is no measure (with both host cores busy the warm cells' time moved too)."""
    runs, tables, _ = effects
    if any(b.values("instructions_per_request") for b in runs[0].benchmarks.values()):
        tables = compare.compare(runs, ["instructions_per_request"], min_effect=MIN_EFFECT)
        base, spun = runs[0], runs[LABELS.index(LATENCY)]
        for bench in base.benchmarks.values():
            if bench.method in ("read", "pread"):
                spinning = spun.functions(bench.key).get("myfs_model_latency [myfs]", 0)
                if bench.params.get("warm") == 0:
                    assert spinning > 10 * max(1, base.functions(bench).get("myfs_model_latency [myfs]", 0)), bench.key
                else:
                    assert spinning == 0, (bench.key, spinning)
    seen = changes(tables, LATENCY)
    for (method, io, warm), d in seen.items():
        if method not in ("read", "pread"):
            continue
        if warm == 0:
            assert d.significant and d.regression, ((method, io, warm), d)
        else:
            assert not d.significant, ((method, io, warm), d)


def test_the_hook_counts_show_why(effects):
    runs, _, report = effects
    base, no_fault_around = runs[0], runs[2]
    key = next(k for k, b in base.benchmarks.items()
               if b.method == "mmap_touch" and b.params.get("warm") == 1)
    pages = base.benchmarks[key].params["file"] // 4096
    assert no_fault_around.benchmarks[key].median("myfs_fault") == pages
    assert base.benchmarks[key].median("myfs_fault") < pages / 4   # fault-around maps 16
    assert base.benchmarks[key].median("myfs_map_pages") > 0
    findings = report.split("## Findings")[1].split("\n## ")[0]
    # The finding of the timing or of the minor faults (exact, whatever the host's noise)
    # names the hook count that changed and says the work changed.
    line = next(l for l in findings.splitlines()
                if l.startswith("- fault_around=off vs default, ") and "on myfs, file 1M, warm" in l
                and f"fault 0 → {pages}" in l)
    assert "the work changed" in line
    assert "default#2 vs default, time per iteration on myfs, file 1M, warm" in findings
    # The same workload reached each hook first under every set: the paths compare.
    assert "The call path into myfs `fault` differs" not in findings
