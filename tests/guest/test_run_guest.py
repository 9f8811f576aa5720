"""`readpath run` where modules do not load (this project's usual host): native timings on
/dev/shm (or the directory readpath_bench took instead), then the same profile on myfs in a guest for the hook counts. The tiny profile on
the first kernel of READPATH_TEST_KERNELS, end to end through the command."""

import json
import os
import subprocess

import pytest

from conftest import REPO
from readpath_lib import build, results, runner


def test_run_adds_the_guests_hook_counts_to_the_native_timings(first_kernel, tmp_path):
    if not os.access(build.bench_binary(), os.X_OK):
        pytest.skip(f"{build.bench_binary()} is not built (readpath test builds it first)")
    if os.path.exists("/proc/modules"):
        pytest.skip("this kernel loads modules, so `readpath run` takes the host branch "
                    "(tests/guest/test_host_run.py covers it)")
    out = tmp_path / "run"
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "readpath"), "run",
                           "--profile", "tiny", "--kernel", first_kernel.release, "--no-build",
                           "--out", str(out)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["status"] == "complete" and plan["vm"]["done"] == first_kernel.release
    run = results.load(out)
    # Native cells are named by the filesystem they read from: warm ones from memory, cold
    # ones from a disk filesystem where the host has one (two targets), else from memory.
    native = [t for t in run.targets() if t != "myfs"]
    assert "myfs" in run.targets() and 1 <= len(native) <= 2, run.targets()
    for target in native:
        fresh = run.context("dir", target=target).removesuffix(" (fresh)")
        assert runner.fs_type_of(fresh.rsplit("/", 1)[0]) == target, (target, fresh)
    assert run.emulated("myfs") == (plan["vm"]["accel"] == "tcg")
    guest = [b for b in run.benchmarks.values() if b.target == "myfs" and not b.skipped]
    # The guest ran the cells its own listing gave, and every read of a cold file went
    # through myfs's hooks.
    cold_reads = [b for b in guest if b.method == "read" and b.params.get("warm") == 0]
    assert cold_reads and all(b.median("myfs_read_iter") > 0 for b in cold_reads)
    assert run.context("myfs_counters", target="myfs").split(",")[:2] == ["read", "read_iter"]
    assert (out / "raw" / f"myfs-{first_kernel.release}.paths").is_file()
    report = (out / "report.md").read_text()
    assert "## Call paths per hook" in report
