"""readpath as LAVA jobs, end to end on this machine: `readpath lava jobs` writes the jobs
and the QEMU device (TCG), Debian's lava-run runs them -- deploy the first test kernel with
myfs built for it, boot the busybox ramdisk, run the readpath test definition -- and
`readpath lava import` brings each back as a result folder that `readpath compare` reads.
A job whose myfs options the device refuses comes back as a failed run with the device's
last lines. Measured on an idle 2-core host: about 25 s per tiny-profile job."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from readpath_lib import packages, results, stats

JOB_TIMEOUT = 1500   # a tiny job takes ~25 s here when idle; TCG on a loaded CI host is slower


def _lava_or_skip():
    if shutil.which("lava-run") is None:
        if os.geteuid() != 0:
            pytest.skip("lava-run is not installed and only root may install it "
                        "(apt-get install --no-install-recommends lava-dispatcher lavacli)")
        try:
            packages.ensure(packages.LAVA, "the LAVA end-to-end test")
        except Exception as err:   # noqa: BLE001 -- any reason apt gives is the skip's reason
            pytest.skip(f"LAVA cannot be installed here: {str(err).splitlines()[0]}")
    if os.geteuid() != 0:
        pytest.skip("lava-run runs jobs as root only")


def _readpath(readpath, *args, timeout=JOB_TIMEOUT):
    return subprocess.run(["/usr/bin/python3", str(readpath), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def lab(first_kernel, readpath, tmp_path_factory):
    """Jobs for the first test kernel (myfs defaults, and options myfs refuses), each good
    one run twice and the bad one once, imported; with what each took."""
    _lava_or_skip()
    where = tmp_path_factory.mktemp("lava")
    made = _readpath(readpath, "lava", "jobs", "--kernel", first_kernel.release,
                     "--options", "default", "--options", "read=sideways",
                     "--profile", "tiny", "--out", where / "lab", "--no-build", timeout=900)
    assert made.returncode == 0, made.stderr
    good, bad = sorted(made.stdout.split(), key=lambda p: "sideways" in p)
    runs = {}
    for name, job in (("first", good), ("second", good), ("refused", bad)):
        started = time.monotonic()
        proc = _readpath(readpath, "lava", "run", job, "--out", where / "out" / name,
                         "--timeout", JOB_TIMEOUT, "--import", where / "results")
        runs[name] = (proc, time.monotonic() - started)
    return where, runs


def test_a_job_runs_under_lava_run_and_comes_back_as_a_result_folder(lab, first_kernel, capsys):
    where, runs = lab
    proc, seconds = runs["first"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = proc.stdout.split()[-1]
    run = results.load(folder)
    assert run.context("kernel") == first_kernel.release
    assert run.context("fs").startswith("myfs") and run.context("accel") == "tcg"
    measured = [b for b in run.benchmarks.values() if not b.skipped]
    assert measured and all(len(b.values("time")) == 3 for b in measured)
    assert any(sum(b.values("myfs_read_iter")) > 0 for b in measured)   # hook counts came back
    paths = results.paths_file(next(iter(run.files)))
    assert paths is not None and "hook read_iter" in paths.read_text()
    assert run.latency(measured[0])                                        # the latency sidecar
    # Every measured cell's median over its rounds, and that median's interval over them
    # named with its real coverage (the tiny profile's 3 rounds: 75%), are LAVA
    # measurements in ns, equal to what readpath computes from the JSON that came back.
    lava_results = json.loads((where / "results" / os.path.basename(folder) / "lava" /
                               "results.json").read_text())
    cases = {r["case"]: r for r in lava_results if "measurement" in r}
    for bench in measured:
        case = bench.name.replace("/", ".")
        rounds = [stats.median(v) for v in bench.by_round("time").values()]
        low, high, coverage = stats.median_ci(rounds)
        assert len(rounds) == 3 and round(coverage * 100) == 75
        assert cases[case]["units"] == "ns"
        assert float(cases[case]["measurement"]) == pytest.approx(stats.median(rounds), rel=1e-5)
        assert float(cases[f"{case}.ci75_low"]["measurement"]) == pytest.approx(low, rel=1e-5)
        assert float(cases[f"{case}.ci75_high"]["measurement"]) == pytest.approx(high, rel=1e-5)
        assert f"{case}.ci95_low" not in cases
    with capsys.disabled():
        files = sorted(p.name for p in (where / "results" / os.path.basename(folder) / "raw").iterdir())
        print(f"\nLAVA job on {first_kernel.release} (tiny, TCG): {seconds:.0f} s with "
              f"lava-run and import; {len(measured)} cells measured, {len(cases)} LAVA "
              f"measurements; back: {', '.join(files)}", file=sys.stderr)


def test_compare_reads_two_lava_runs(lab, readpath):
    _, runs = lab
    folders = []
    for name in ("first", "second"):
        proc, _ = runs[name]
        assert proc.returncode == 0, proc.stderr[-3000:]
        folders.append(proc.stdout.split()[-1])
    assert folders[0] != folders[1]
    compare = _readpath(readpath, "compare", *folders, "--metric", "time", timeout=300)
    assert compare.returncode == 0, compare.stderr
    assert "time per iteration" in compare.stdout and "emulated" in compare.stdout


def test_a_job_that_fails_on_the_device_comes_back_failed_with_its_log_tail(lab):
    where, runs = lab
    proc, _ = runs["refused"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "refuses the mount options" in proc.stderr and "read=sideways" in proc.stderr
    assert "the device's last lines" in proc.stderr
    failed = [p for p in (where / "results").iterdir()
              if json.loads((p / "lava" / "job.json").read_text())["status"] == "failed"]
    assert len(failed) == 1
    assert not list((failed[0] / "raw").glob("*.json"))   # no zeros standing in for data
    assert "READPATH-FAILED" in (failed[0] / "device.log").read_text()
