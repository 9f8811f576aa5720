"""`readpath compare`: tables per metric and question, significance after Holm within the
question, what a comparison could detect, --min-effect and --fail-above — proven on known
effects: a run against itself, and runs slowed on purpose by a known factor."""

import json
import re

import pytest

from conftest import FIXTURES, readpath

BASE, NEW = FIXTURES / "base.json", FIXTURES / "new.json"
MYFS_61 = FIXTURES / "myfs-6.1.0-56-amd64.json"
MYFS_612 = FIXTURES / "myfs-6.12.117+deb12-amd64.json"


def row(output, name):
    return next(line for line in output.splitlines() if line.startswith(f"| {name} "))


def slowed(tmp_path, factor, name="slowed.json"):
    """The base fixture with every timing made `factor` times slower, as a run on a
    machine that got slower would look (same spread, shifted)."""
    data = json.loads(BASE.read_text())
    for bench in data["benchmarks"]:
        for key in ("real_time", "cpu_time"):
            if key in bench:
                bench[key] *= factor
        for key in ("bytes_per_second", "items_per_second"):
            if key in bench:
                bench[key] /= factor
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_regression_is_marked_significant_and_worse():
    proc = readpath("compare", BASE, NEW, "--metric", "throughput")
    assert proc.returncode == 0, proc.stderr
    line = row(proc.stdout, "pread/io:4096/file:16777216/warm:1")
    assert "-15." in line and "*worse" in line


def test_improvement_is_marked_better_and_noise_is_not_marked():
    out = readpath("compare", BASE, NEW, "--metric", "throughput").stdout
    assert "*better" in row(out, "uring/io:65536/file:16777216/warm:1/qd:32")
    assert "*" not in row(out, "read/io:4096/file:16777216/warm:1")


def test_each_change_carries_its_confidence_interval():
    out = readpath("compare", BASE, NEW, "--metric", "time").stdout
    line = row(out, "pread/io:4096/file:16777216/warm:1")
    low, high = map(float, re.search(r"\[\+([\d.]+)%, \+([\d.]+)%\]", line).groups())
    assert low < 17.7 < high   # the planted +17.7% lies inside its own interval


def test_tables_are_one_per_question_with_a_geometric_mean():
    out = readpath("compare", BASE, NEW, "--metric", "time").stdout
    assert "### time per iteration (ns) on tmpfs, file 1M, warm" in out
    assert "### time per iteration (ns) on tmpfs, file 16M, warm" in out
    assert re.search(r"\| geometric mean of ratios .*×1\.000 .*×0\.9\d\d", out)


def test_every_table_says_what_it_could_detect():
    out = readpath("compare", BASE, NEW, "--metric", "time").stdout
    notes = re.findall(r"Detectable: smallest detectable change ±([\d.]+)%", out)
    assert len(notes) == 2 and all(float(n) < 5 for n in notes)


def test_a_run_compared_with_itself_flags_nothing():
    proc = readpath("compare", BASE, BASE, "--fail-above", "10")
    assert proc.returncode == 0, proc.stdout
    assert "*worse" not in proc.stdout and "*better" not in proc.stdout
    assert "No timing is significantly worse" in proc.stdout


def test_fail_above_catches_a_run_slowed_1_8_times(tmp_path):
    proc = readpath("compare", BASE, slowed(tmp_path, 1.8), "--fail-above", "10")
    assert proc.returncode == 1, proc.stdout
    assert "significantly worse by more than 10%" in proc.stdout
    assert "pread/io:4096/file:16777216/warm:1 time +80.0%" in proc.stdout


def test_fail_above_lets_a_slowdown_below_its_threshold_pass(tmp_path):
    proc = readpath("compare", BASE, slowed(tmp_path, 1.05), "--fail-above", "10")
    assert proc.returncode == 0, proc.stdout
    # ... although the 5% is real and significant as a change.
    assert "*worse" in row(proc.stdout, "pread/io:4096/file:16777216/warm:1")


def test_fail_above_exits_1_on_a_real_regression_beyond_the_threshold():
    proc = readpath("compare", BASE, NEW, "--fail-above", "5")
    assert proc.returncode == 1
    assert "pread/io:4096" in proc.stdout


def test_fail_above_passes_when_the_regression_is_smaller_than_the_threshold():
    proc = readpath("compare", BASE, NEW, "--fail-above", "20")
    assert proc.returncode == 0, proc.stdout


def test_min_effect_keeps_small_changes_out_of_significance(tmp_path):
    slower = slowed(tmp_path, 1.03)
    plain = readpath("compare", BASE, slower, "--metric", "time").stdout
    margin = readpath("compare", BASE, slower, "--metric", "time", "--min-effect", "5").stdout
    name = "read/io:4096/file:16777216/warm:1"
    assert "*worse" in row(plain, name)
    assert "*worse" not in row(margin, name)
    assert "Only changes beyond ±5%" in margin


def test_hook_counts_are_compared_exactly_and_emulated_timings_marked():
    proc = readpath("compare", MYFS_61, MYFS_612)
    assert proc.returncode == 0, proc.stderr
    assert "emulated timings (TCG)" in proc.stdout
    table = proc.stdout.split("myfs map_pages per iteration on myfs, file 1M, cold")[1]
    line = row(table, "mmap_copy/io:4096/file:1048576/warm:0")
    assert "exact" in line and "34" in line and "26" in line and "fewer" in line


def test_emulated_timings_never_fail_the_build():
    proc = readpath("compare", MYFS_61, MYFS_612, "--fail-above", "1")
    assert proc.returncode == 0, proc.stdout


def test_single_repetitions_say_why_there_is_no_p_value(tmp_path):
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


def test_says_plainly_when_repetitions_are_too_few_to_detect_anything():
    real = FIXTURES / "real-tiny-tmpfs.json"
    out = readpath("compare", real, real, "--metric", "time").stdout
    assert "this comparison could detect nothing" in out
    assert "none" in row(out, "read/io:4096/file:1048576/warm:1")


@pytest.mark.parametrize("suffix", ["manual_time", "real_time"])
def test_cells_match_however_they_were_clocked(tmp_path, suffix):
    data = json.loads(BASE.read_text())
    for bench in data["benchmarks"]:
        for key in ("name", "run_name"):
            if key in bench:
                bench[key] = bench[key].replace("/real_time", f"/{suffix}")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    proc = readpath("compare", BASE, other, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    assert "pread/io:4096/file:16777216/warm:1 " in proc.stdout


LATENCY = FIXTURES / "real-tiny-ext4-latency.json"
COLD_READ = "read/io:4096/file:1048576/warm:0"


def tail_moved(tmp_path, readahead=None):
    """The latency fixture with the cold read's p99 made 3× longer and nothing else changed
    (a few requests now wait longer, the typical one does not); with `readahead` = (base,
    other), both runs also carry that myfs readahead count in the cell. Returns (base, other)."""
    paths = []
    for name, factor, count in (("base.json", 1, 0), ("tail.json", 3, 1)):
        data = json.loads(LATENCY.read_text())
        for bench in data["benchmarks"]:
            if bench["name"].startswith(COLD_READ + "/") and bench.get("run_type") == "iteration":
                bench["lat_p99_ns"] *= factor
                if readahead:
                    bench["myfs_readahead"] = readahead[count]
        path = tmp_path / name
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def test_p50_and_p99_per_request_are_compared_like_time(tmp_path):
    base, tail = tail_moved(tmp_path)
    proc = readpath("compare", base, tail)
    assert proc.returncode == 0, proc.stderr
    p99 = proc.stdout.split("### latency p99 per request (ns) on ext4, file 1M, cold")[1]
    assert "*worse" in row(p99.split("###")[0], COLD_READ)
    p50 = proc.stdout.split("### latency p50 per request (ns) on ext4, file 1M, cold")[1]
    assert "*" not in row(p50.split("###")[0], COLD_READ)
    assert "latency p90" not in proc.stdout, "p90, p99.9, max, mean only with --metric"


def test_fail_above_stays_on_time_when_only_the_tail_moved(tmp_path):
    base, tail = tail_moved(tmp_path)
    proc = readpath("compare", base, tail, "--fail-above", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_moved_tail_with_a_still_median_is_said_beside_the_hook_counts(tmp_path):
    base, tail = tail_moved(tmp_path, readahead=(11, 19))
    proc = readpath("report", base, tail, "--no-charts", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    findings = (tmp_path / "out" / "report.md").read_text().split("## Findings")[1] \
        .split("\n## ")[0]
    line = next(l for l in findings.splitlines() if "latency per request on ext4" in l)
    assert f"{COLD_READ} p99" in line and "the tail moved, the median did not" in line
    assert "readahead 11 → 19" in line and "the work changed" in line


BLOCK_61 = FIXTURES / "block-6.1.0-56-amd64.json"
BLOCK_612 = FIXTURES / "block-6.12.117+deb12-amd64.json"


def test_a_changed_scheduler_is_said_before_the_tables():
    proc = readpath("compare", BLOCK_61, BLOCK_612, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.split("\n###")[0]
    assert ("6.12.117+deb12-amd64 vs 6.1.0-56-amd64 on myfs: the device changed (I/O scheduler "
            "none → mq-deadline)") in head


def test_the_same_device_on_both_sides_is_not_mentioned():
    proc = readpath("compare", BLOCK_61, BLOCK_61, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    assert "device changed" not in proc.stdout


def test_a_block_device_on_one_side_only_is_said():
    proc = readpath("compare", MYFS_61, BLOCK_61, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    assert ("the device changed (6.1.0-56-amd64 on no block device, 6.1.0-56-amd64#2 on block "
            "device nullb0)") in proc.stdout


def test_device_requests_are_compared_as_exact_counts():
    proc = readpath("compare", BLOCK_61, BLOCK_612, "--metric", "dev_reads")
    assert proc.returncode == 0, proc.stderr
    cold = proc.stdout.split("device read requests per pass on myfs, file 1M, cold")[1]
    cells = [c.strip() for c in row(cold, "pread/io:4096/file:1048576/warm:0").split("|")]
    assert cells[2:6] == ["8", "6", "-25.0%", "exact"]
    direct = [c.strip() for c in row(cold, "pread_direct/io:4096/file:1048576/warm:0").split("|")]
    assert direct[2:4] == ["256", "256"] and direct[6] == "", "unchanged: not marked"
