"""`readpath compare-kernels` smoke: the tiny suite on myfs under each kernel of
READPATH_TEST_KERNELS (one boot per kernel), and one report with them side by side."""

import json
import os
import shutil
import subprocess

import pytest

import conftest
from conftest import REPO
from readpath_lib import build, vm
from readpath_lib.errors import RunError, UsageError


def _available_kernels():
    specs = conftest.kernel_specs()
    if len(specs) < 2:
        pytest.skip(f"compare-kernels needs two kernels; READPATH_TEST_KERNELS={specs}")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (readpath test installs it as root)")
    if not os.access(build.bench_binary(), os.X_OK):
        pytest.skip(f"{build.bench_binary()} is not built (readpath test builds it first)")
    if not (REPO / "kmod" / "Kbuild").is_file():
        pytest.skip("kmod/ has no myfs yet")
    for spec in specs:
        try:
            vm.resolve_kernel(spec)
        except (UsageError, RunError) as err:
            pytest.skip(f"kernel {spec} is not available here: {err}")
    return specs


def test_compare_kernels_reports_hook_counts_and_call_paths_side_by_side(tmp_path):
    specs = _available_kernels()
    out = tmp_path / "kernels"
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "readpath"),
                           "compare-kernels", *specs, "--profile", "tiny", "--no-build", "--out", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    releases = [vm.resolve_kernel(s).release for s in specs]
    for release in releases:
        data = json.loads((out / "raw" / f"myfs-{release}.json").read_text())
        assert data["context"]["kernel"] == release
        assert data["context"]["fs"].startswith("myfs")
        read = next(b for b in data["benchmarks"]
                    if b["name"].startswith("read/io:4096/file:1048576/warm:1/"))
        assert read["myfs_read_iter"] == 256  # one read_iter per 4 KiB read of 1 MiB
        assert "hook read_iter" in (out / "raw" / f"myfs-{release}.paths").read_text()
    report = (out / "report.md").read_text()
    assert "### myfs hook calls per iteration on myfs (exact under any accelerator)" in report
    assert "## Call paths per hook (myfs, trace=once)" in report
    assert "#### `read_iter`" in report
    assert f"| {releases[0]} " in report.split("#### `read_iter`")[1]
    accels = {json.loads((out / "raw" / f"myfs-{r}.json").read_text())["context"]["accel"]
              for r in releases}
    if "tcg" in accels:
        assert "emulated" in report
    assert list((out / "charts").glob("*.png"))
