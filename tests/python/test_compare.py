"""`readpath compare`: tables per metric, significance after Holm, --fail-above."""

import re

from conftest import FIXTURES, readpath

BASE, NEW = FIXTURES / "base.json", FIXTURES / "new.json"
MYFS_61 = FIXTURES / "myfs-6.1.0-56-amd64.json"
MYFS_612 = FIXTURES / "myfs-6.12.117+deb12-amd64.json"


def row(output, name):
    return next(line for line in output.splitlines() if line.startswith(f"| {name} "))


def test_regression_is_marked_significant_and_worse():
    proc = readpath("compare", BASE, NEW, "--metric", "throughput")
    assert proc.returncode == 0, proc.stderr
    line = row(proc.stdout, "pread/io:4096/file:16777216/warm:1")
    assert "-15." in line and "*worse" in line


def test_improvement_is_marked_better_and_noise_is_not_marked():
    out = readpath("compare", BASE, NEW, "--metric", "throughput").stdout
    assert "*better" in row(out, "uring/io:65536/file:16777216/warm:1/qd:32")
    assert "*" not in row(out, "read/io:4096/file:16777216/warm:1")


def test_geometric_mean_row_summarises_each_run():
    out = readpath("compare", BASE, NEW, "--metric", "time").stdout
    assert re.search(r"\| geometric mean of ratios .*×1\.000 .*×0\.9\d\d", out)


def test_fail_above_exits_1_on_a_significant_regression():
    proc = readpath("compare", BASE, NEW, "--fail-above", "5")
    assert proc.returncode == 1
    assert "significant regression" in proc.stdout
    assert "pread/io:4096" in proc.stdout


def test_fail_above_passes_when_the_regression_is_smaller_than_the_threshold():
    proc = readpath("compare", BASE, NEW, "--fail-above", "20")
    assert proc.returncode == 0, proc.stdout


def test_hook_counts_are_compared_exactly_and_emulated_timings_marked():
    proc = readpath("compare", MYFS_61, MYFS_612)
    assert proc.returncode == 0, proc.stderr
    assert "emulated timings (TCG)" in proc.stdout
    assert "myfs map_pages per iteration on myfs" in proc.stdout
    line = row(proc.stdout.split("myfs map_pages per iteration")[1],
               "mmap_copy/io:4096/file:1048576/warm:0")
    assert "exact" in line and "34" in line and "26" in line


def test_emulated_timings_never_fail_the_build():
    proc = readpath("compare", MYFS_61, MYFS_612, "--fail-above", "1")
    assert proc.returncode == 0, proc.stdout


def test_single_repetitions_say_why_there_is_no_p_value(tmp_path):
    import json
    data = json.loads(BASE.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b.get("repetition_index") == 0]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(data))
    out = readpath("compare", one, one).stdout
    assert "n<3" in out and "too few repetitions" in out


def test_run_folders_compare_like_files(run_folder):
    proc = readpath("compare", run_folder, NEW, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    assert "6.12.117+deb12-amd64" in proc.stdout


def test_says_when_repetitions_are_too_few_for_holm_to_find_anything():
    real = FIXTURES / "real-tiny-tmpfs.json"
    out = readpath("compare", real, real, "--metric", "time").stdout
    assert "nothing can be significant" in out
