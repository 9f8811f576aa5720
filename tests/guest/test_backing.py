"""Block backings in a guest (`--backing`, docs/contracts.md "Backings in a guest"): ONE
boot per kernel runs the tiny profile's pread cells on myfs over null_blk under three
configurations, interleaved and counterbalanced (round 1: A B C, round 2: C B A):

  A  null_blk:irqmode=2,completion_nsec=0
  B  null_blk:irqmode=2,completion_nsec=5000000     (each request completes 5 ms later)
  C  A with --scheduler mq-deadline

and checks (a) the cells ran on the block path: context block_device nullb0, device reads
on every cold cell and none on a warm one; (b) a known effect: B's cold passes are slower
than A's by at least what its device reads must wait, while warm passes, which never reach
the device, do not move beyond noise; (c) the scheduler the configuration asked for is the
one the cells record (none for A, mq-deadline for C). (null_blk honours completion_nsec in
irqmode=2, the timer mode, only.) Bad backings and schedulers are refused on the host, in
one line with exit 2, without a boot.
"""

import json
import statistics
import subprocess
import sys

import pytest

from conftest import REPO

from readpath_lib import backing, build, guest_suite  # noqa: E402

READPATH = [sys.executable, str(REPO / "scripts" / "readpath")]
# Readahead reads the next window while the reader copies the last one, which under TCG
# takes ~1.5 ms per 128 KiB: a 1 ms delay was mostly hidden (6.12: a cold pass of 18 reads
# grew 4.5 ms, median 12.1 -> 16.6 ms, warm passes moved 1.2 ms, and a loaded CI host made
# that fail). At 5 ms each window still waits most of its delay.
DELAY_NS = 5_000_000
CONFIGS = [
    guest_suite.Config("fast", backing=backing.parse("null_blk:irqmode=2,completion_nsec=0")),
    guest_suite.Config("slow", backing=backing.parse(
        f"null_blk:irqmode=2,completion_nsec={DELAY_NS}")),
    guest_suite.Config("deadline", backing=backing.parse(
        "null_blk:irqmode=2,completion_nsec=0", "mq-deadline")),
]


@pytest.fixture(scope="module")
def suite(kernel, tmp_path_factory):
    """The three configurations' results on one kernel: {label: [benchmark dicts]} and
    {label: context}."""
    if not guest_suite.mkfs_binary().is_file():
        pytest.skip(f"{guest_suite.mkfs_binary()} is not built (tools/mkfs.myfs, issue 9)")
    folder = tmp_path_factory.mktemp(f"backing-{kernel.release}")
    guest_suite.run_suite(build.bench_binary(), kernel, "tiny", folder,
                          lambda i, _release: CONFIGS[i].label, configs=CONFIGS, rounds=2,
                          repetitions=5, bench_args=["--methods", "pread"], timeout=300)
    benchmarks, contexts = {}, {}
    for c in CONFIGS:
        for r in (1, 2):
            data = json.loads((folder / "raw" / f"{c.label}-r{r}.json").read_text())
            contexts[c.label] = data["context"]
            benchmarks.setdefault(c.label, []).extend(
                b for b in data["benchmarks"] if b.get("run_type") == "iteration"
                and not b.get("error_occurred"))
    record = json.loads((folder / "backing.json").read_text())
    return benchmarks, contexts, record


def _by_cell(benchmarks):
    cells = {}
    for b in benchmarks:
        cells.setdefault(b["run_name"], []).append(b)
    return cells


def _warm(name):
    return "/warm:1/" in name


def test_cells_ran_on_the_block_device(suite):
    benchmarks, contexts, record = suite
    for c in CONFIGS:
        assert contexts[c.label]["block_device"] == "nullb0", contexts[c.label]
        cells = _by_cell(benchmarks[c.label])
        assert any(_warm(n) for n in cells) and any(not _warm(n) for n in cells)
        for name, reps in cells.items():
            reads = [b["dev_reads"] for b in reps]
            if _warm(name):
                assert reads == [0] * len(reps), (c.label, name, reads)
            else:
                assert min(reads) > 0, (c.label, name, reads)
        assert record[c.label]["backing"] == c.backing.spec


def _median(reps):
    return statistics.median(b["real_time"] for b in reps)   # ns per pass


def test_completion_delay_slows_cold_reads_only(suite):
    """Under TCG on a shared host a pass's time varies by 2-3x (one pass per repetition in
    the tiny profile), and it only ever adds time: a cold cell's median of 10 passes must
    move by at least one completion delay (readahead keeps many requests in flight, so
    their delays overlap with the reader's copying; see DELAY_NS), and the warm cell of the same request
    size, judged by its least disturbed pass (the minimum), by less than half as much."""
    benchmarks, _, _ = suite
    fast, slow = _by_cell(benchmarks["fast"]), _by_cell(benchmarks["slow"])
    cold = sorted(n for n in fast if not _warm(n) and n.startswith("pread/"))
    assert cold
    for name in cold:
        a, b_ = _median(fast[name]), _median(slow[name])
        assert b_ - a >= DELAY_NS, (name, a, b_)
        # the device's own clock (/sys/block/nullb0/stat, time spent reading) sees every
        # request's delay, overlapping or not
        reads = statistics.median(b["dev_reads"] for b in slow[name])
        ms = [statistics.median(b["dev_read_ms"] for b in c[name]) for c in (fast, slow)]
        assert ms[1] - ms[0] >= 0.5 * reads * DELAY_NS / 1e6, (name, reads, ms)
        warm = name.replace("/warm:0/", "/warm:1/")
        wa = min(b["real_time"] for b in fast[warm])
        wb = min(b["real_time"] for b in slow[warm])
        assert abs(wb - wa) < (b_ - a) / 2, (warm, wa, wb, "cold moved", b_ - a)


def test_the_scheduler_asked_for_is_the_one_recorded(suite):
    _, contexts, record = suite
    assert contexts["fast"]["block_scheduler"] == "none"
    assert contexts["deadline"]["block_scheduler"] == "mq-deadline"
    assert record["deadline"]["scheduler"] == "mq-deadline"
    assert any("[mq-deadline]" in d for d in record["deadline"]["devices"])


@pytest.mark.parametrize("argv, words", [
    (["compare-kernels", "6.1", "6.12", "--backing", "null_blk", "--scheduler", "cfq"],
     "unknown scheduler 'cfq'"),
    (["compare-options", "fault_around=off", "--backing", "nvme0n1"], "unknown backing 'nvme0n1'"),
])
def test_unknown_scheduler_or_device_is_one_line_exit_2_without_a_boot(argv, words, tmp_path):
    proc = subprocess.run([*READPATH, *argv, "--no-build", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
