"""Bad input to compare, plot, report and run: one clear line, exit 2, no traceback."""

import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, READPATH, needs_bench, readpath

BASE = FIXTURES / "base.json"


def assert_one_clear_line(proc, *words):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", ["compare", "plot", "report"])
def test_missing_result_file(command, tmp_path):
    args = [BASE] if command == "compare" else ["--out", tmp_path]
    assert_one_clear_line(readpath(command, *args, tmp_path / "nope.json"), "does not exist")


@pytest.mark.parametrize("command", ["compare", "plot", "report"])
def test_corrupt_result_file(command, tmp_path):
    args = [BASE] if command == "compare" else ["--out", tmp_path]
    assert_one_clear_line(readpath(command, *args, FIXTURES / "truncated.json"), "not valid JSON")


@pytest.mark.parametrize("command", ["compare", "plot", "report"])
def test_result_file_without_benchmarks(command, tmp_path):
    args = [BASE] if command == "compare" else ["--out", tmp_path]
    assert_one_clear_line(readpath(command, *args, FIXTURES / "empty.json"), "no benchmarks")


@pytest.mark.parametrize("command", ["compare", "plot", "report"])
def test_folder_without_results(command, tmp_path):
    assert_one_clear_line(readpath(command, tmp_path, BASE), "holds no result JSON")


def test_runs_with_no_benchmarks_in_common():
    assert_one_clear_line(readpath("compare", BASE, FIXTURES / "disjoint.json"),
                          "no benchmarks in common")


def test_not_json_from_readpath_bench(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"results": []}')
    assert_one_clear_line(readpath("compare", BASE, other), "not a readpath_bench result")


def test_unknown_metric():
    assert_one_clear_line(readpath("compare", BASE, BASE, "--metric", "speed"), "unknown metric")


def test_compare_of_one_run_needs_rounds_to_set_against_each_other():
    # base.json is one process: no rounds of its own to compare.
    assert_one_clear_line(readpath("compare", BASE), "give a second run to compare with")


def test_plot_of_a_file_needs_an_output_folder():
    assert_one_clear_line(readpath("plot", BASE), "--out")


def test_run_with_a_directory_that_does_not_exist(tmp_path):
    assert_one_clear_line(readpath("run", "--dir", tmp_path / "missing", "--no-build"),
                          "not a directory")


def test_resume_without_a_run(tmp_path):
    assert_one_clear_line(readpath("run", "--resume", "--out", tmp_path, "--no-build"),
                          "no run to resume")


def test_compare_kernels_with_an_unknown_kernel(tmp_path):
    proc = readpath("compare-kernels", "9.99-nope", "6.1", "--no-build", "--out", tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "9.99-nope" in proc.stderr


def test_compare_kernels_needs_two_kernels():
    assert_one_clear_line(readpath("compare-kernels", "6.1", "--no-build"), "at least two kernels")


def test_top_level_help_lists_every_subcommand():
    proc = readpath("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "compare", "compare-kernels", "plot", "report"):
        assert command in proc.stdout


def test_top_level_help_imports_no_command_and_runs_nothing():
    # The registry names each command and its summary; only the chosen one is imported,
    # so `readpath --help` starts no readpath_bench (it used to list the profiles 3 times).
    probe = f"""
import runpy, subprocess, sys
def refuse(*args, **kwargs):
    raise AssertionError(f"readpath --help started {{args[0] if args else kwargs}}")
subprocess.Popen = refuse
sys.argv = [{str(READPATH)!r}, "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as done:
    assert done.code in (0, None), done.code
print(sorted(m for m in sys.modules if m.startswith("readpath_lib.commands.")))
"""
    proc = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "compare-options" in proc.stdout


@pytest.mark.parametrize("command", ["run", "test", "vm", "compare", "compare-kernels",
                                     "compare-options", "plot", "report", "calibrate", "lava"])
def test_subcommand_help_answers(command):
    proc = readpath(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Examples:" in proc.stdout


@needs_bench
def test_run_with_an_unknown_guest_kernel_fails_before_benchmarking(tmp_path):
    proc = readpath("run", "--profile", "tiny", "--kernel", "9.99-nope", "--no-build",
                    "--out", tmp_path / "run")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "9.99-nope" in proc.stderr
    assert not list((tmp_path / "run").glob("raw/*.json"))


def test_baseline_whose_cells_were_all_skipped(tmp_path):
    import json
    data = json.loads((FIXTURES / "real-tiny-tmpfs.json").read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b.get("error_occurred")]
    skipped = tmp_path / "skipped.json"
    skipped.write_text(json.dumps(data))
    assert_one_clear_line(readpath("compare", skipped, FIXTURES / "real-tiny-tmpfs.json"),
                          "was skipped")


def test_without_python_the_command_says_in_one_line_what_to_install():
    import shutil
    import subprocess
    from conftest import READPATH
    if shutil.which("setpriv") is None:
        import pytest
        pytest.skip("setpriv (util-linux) is needed to run the command as a user who is not root")
    import os
    import tempfile
    # As a user who may not install packages: one line naming the package, exit 2. That
    # user may not read the checkout (a clone under /root, mode 0700), and the shell half
    # of the script stops before it needs its library: run a copy nobody is kept from.
    with tempfile.TemporaryDirectory(prefix="readpath-nobody-") as scratch:
        os.chmod(scratch, 0o755)
        script = Path(scratch) / "readpath"
        shutil.copyfile(READPATH, script)
        os.chmod(script, 0o755)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               "env", "READPATH_PYTHON=/nonexistent/python3", "sh", str(script),
                               "test"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "apt-get install -y python3" in lines[0], proc.stderr
