"""`readpath compare`: tables per metric and question, the round as the unit, significance
after Holm within the question, what a comparison could detect, --min-effect and the
--fail-above gate — proven on known effects: a run against itself, runs slowed on purpose by
a known factor, rounds that move together, and an interleaved session's pairs."""

import json
import re

import pytest

from conftest import (CELLS, FIXTURES, in_rounds, readpath, run_folder_with_rounds,
                      write_rounds)
from readpath_lib import compare, results

BASE_FILE, NEW_FILE = FIXTURES / "base.json", FIXTURES / "new.json"
MYFS_61 = FIXTURES / "myfs-6.1.0-56-amd64.json"
MYFS_612 = FIXTURES / "myfs-6.12.117+deb12-amd64.json"
PREAD = "pread/io:4096/file:16777216/warm:1"


@pytest.fixture(scope="module")
def base_new(tmp_path_factory):
    """base.json and new.json (new: pread 4K on 16M planted 17.7% slower, uring qd:32
    faster), each repetition a round of its own: 8 rounds a side."""
    root = tmp_path_factory.mktemp("fixtures")
    return in_rounds(BASE_FILE, root / "base"), in_rounds(NEW_FILE, root / "new")


def row(output, name):
    return next(line for line in output.splitlines() if line.startswith(f"| {name} "))


def slowed(tmp_path, factor, name="slowed"):
    """base.json's rounds with every timing made `factor` times slower, as a run on a
    machine that got slower would look (same spread, shifted)."""
    data = json.loads(BASE_FILE.read_text())
    for bench in data["benchmarks"]:
        for key in ("real_time", "cpu_time"):
            if key in bench:
                bench[key] *= factor
        for key in ("bytes_per_second", "items_per_second"):
            if key in bench:
                bench[key] /= factor
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return in_rounds(path, tmp_path / name)


def test_regression_is_marked_significant_and_worse(base_new):
    proc = readpath("compare", *base_new, "--metric", "throughput")
    assert proc.returncode == 0, proc.stderr
    line = row(proc.stdout, "pread/io:4096/file:16777216/warm:1")
    assert "-15." in line and "*worse" in line


def test_improvement_is_marked_better_and_noise_is_not_marked(base_new):
    out = readpath("compare", *base_new, "--metric", "throughput").stdout
    assert "*better" in row(out, "uring/io:65536/file:16777216/warm:1/qd:32")
    assert "*" not in row(out, "read/io:4096/file:16777216/warm:1")


def test_each_change_carries_its_confidence_interval(base_new):
    out = readpath("compare", *base_new, "--metric", "time").stdout
    line = row(out, "pread/io:4096/file:16777216/warm:1")
    low, high = map(float, re.search(r"\[\+([\d.]+)%, \+([\d.]+)%\]", line).groups())
    assert low < 17.7 < high   # the planted +17.7% lies inside its own interval


def test_tables_are_one_per_question_with_a_geometric_mean(base_new):
    out = readpath("compare", *base_new, "--metric", "time").stdout
    assert "### time per iteration (ns) on tmpfs, file 1M, warm" in out
    assert "### time per iteration (ns) on tmpfs, file 16M, warm" in out
    assert re.search(r"\| geometric mean of ratios .*×1\.000 .*×0\.9\d\d", out)


def test_every_table_says_what_it_could_detect(base_new):
    out = readpath("compare", *base_new, "--metric", "time").stdout
    notes = re.findall(r"Detectable: smallest detectable change ±([\d.]+)%", out)
    assert len(notes) == 2 and all(float(n) < 5 for n in notes)


def test_a_run_compared_with_itself_flags_nothing(base_new):
    proc = readpath("compare", base_new[0], base_new[0], "--fail-above", "10")
    assert proc.returncode == 0, proc.stdout
    assert "*worse" not in proc.stdout and "*better" not in proc.stdout
    assert "No timing is significantly worse" in proc.stdout


def test_fail_above_catches_a_run_slowed_1_8_times(base_new, tmp_path):
    proc = readpath("compare", base_new[0], slowed(tmp_path, 1.8), "--fail-above", "10")
    assert proc.returncode == 1, proc.stdout
    assert "significantly worse by more than 10%" in proc.stdout
    assert "pread/io:4096/file:16777216/warm:1 +80.0%" in proc.stdout


def test_fail_above_lets_a_slowdown_below_its_threshold_pass(base_new, tmp_path):
    proc = readpath("compare", base_new[0], slowed(tmp_path, 1.05), "--fail-above", "10")
    assert proc.returncode == 0, proc.stdout
    # ... although the 5% is real and significant as a change.
    assert "*worse" in row(proc.stdout, "pread/io:4096/file:16777216/warm:1")


def test_fail_above_exits_1_on_a_real_regression_beyond_the_threshold(base_new):
    proc = readpath("compare", *base_new, "--fail-above", "5")
    assert proc.returncode == 1
    assert "pread/io:4096" in proc.stdout


def test_fail_above_passes_when_the_regression_is_smaller_than_the_threshold(base_new):
    proc = readpath("compare", *base_new, "--fail-above", "20")
    assert proc.returncode == 0, proc.stdout


def test_min_effect_keeps_small_changes_out_of_significance(base_new, tmp_path):
    slower = slowed(tmp_path, 1.03)
    plain = readpath("compare", base_new[0], slower, "--metric", "time").stdout
    margin = readpath("compare", base_new[0], slower, "--metric", "time", "--min-effect", "5").stdout
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


def test_repetitions_of_one_process_are_not_a_test(tmp_path):
    # base.json as it is: one file, one process, 8 repetitions a cell; against new.json's
    # planted 17.7%: shown, never tested, and the reason said.
    proc = readpath("compare", BASE_FILE, NEW_FILE, "--metric", "time", "--fail-above", "5")
    assert proc.returncode == 0, proc.stdout
    line = row(proc.stdout, PREAD)
    assert "+17." in line and "<3 rounds" in line and "*" not in line
    assert "1 round a side: no test (a round is one process run" in proc.stdout
    assert "had too few rounds for a test" in proc.stdout


def test_run_folders_compare_like_files(run_folder):
    proc = readpath("compare", run_folder, NEW_FILE, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    assert "6.12.117+deb12-amd64" in proc.stdout


def test_round_effects_are_not_mistaken_for_changes(tmp_path):
    # Two runs of the same cells whose rounds move by 20% (the machine), repetitions inside a
    # round by 1%: compared as repetitions, almost every cell would differ; as rounds, none.
    base = run_folder_with_rounds(tmp_path / "a", rounds=8, repetitions=3, round_sd=0.2, seed=1)
    other = run_folder_with_rounds(tmp_path / "b", rounds=8, repetitions=3, round_sd=0.2, seed=2)
    proc = readpath("compare", base, other, "--metric", "time", "--fail-above", "0")
    assert proc.returncode == 0, proc.stdout
    assert "*worse" not in proc.stdout and "*better" not in proc.stdout
    runs = results.load_all([base, other])
    assert all(len(b.by_round("time")) == 8 for b in runs[0].benchmarks.values())


def test_a_change_beyond_the_round_noise_is_found_in_every_cell(tmp_path):
    base = run_folder_with_rounds(tmp_path / "a", rounds=8, round_sd=0.03, seed=1)
    slower = run_folder_with_rounds(tmp_path / "b", rounds=8, round_sd=0.03, seed=2,
                                    factors={name: 1.3 for name in CELLS})
    proc = readpath("compare", base, slower, "--metric", "time", "--fail-above", "10")
    assert proc.returncode == 1, proc.stdout
    paths = [name for name in CELLS if not name.startswith("memcpy")]
    assert all("*worse" in row(proc.stdout, name) for name in paths)
    # the reference cells moved too: marked as such, never gated
    assert "ref *worse" in row(proc.stdout, "memcpy/io:4096/file:16777216/warm:1")
    assert "memcpy" not in proc.stdout.split("readpath compare:")[1]
    assert f"{len(paths)} timing(s) significantly worse by more than 10%" in proc.stdout


def test_the_geometric_mean_is_over_read_paths_and_says_what_it_left_out(tmp_path):
    base = run_folder_with_rounds(tmp_path / "a", seed=1)
    other = run_folder_with_rounds(tmp_path / "b", seed=2, factors={
        name: 2.0 for name in CELLS if name.startswith("memcpy")})
    out = readpath("compare", base, other, "--metric", "time").stdout
    geo = float(re.search(r"geometric mean of ratios \(read paths\) .*?×([\d.]+)", out).group(1))
    assert 0.9 < geo < 1.1, "memcpy's ×2 is the machine's, not a read path's"
    assert "Geometric mean over 9 read paths, leaving out 3 reference cells" in out


def test_runs_taken_apart_say_what_they_cannot_tell_from_the_machine(tmp_path):
    base = run_folder_with_rounds(tmp_path / "a", seed=1)
    other = run_folder_with_rounds(tmp_path / "b", seed=2, factors={
        name: 1.2 for name in CELLS if name.startswith("memcpy")})
    out = readpath("compare", base, other, "--metric", "time").stdout
    note = next(line for line in out.splitlines() if "were taken apart" in line)
    assert "compared as independent" in note
    assert "the reference cells (memcpy, no kernel) moved ×1.2" in note


def test_a_session_interleaved_round_by_round_is_compared_in_pairs(tmp_path):
    # compare-options' design: configurations A and B run in the same rounds, which move by
    # 15% together; B is 4% slower. Paired, the 4% stands out in every cell; the same values
    # as two runs taken apart are lost in the rounds' noise.
    raw = tmp_path / "session" / "raw"
    effects = write_rounds(raw, "myfs-a", CELLS, 8, round_sd=0.15, rep_sd=0.005, seed=1)
    write_rounds(raw, "myfs-b", CELLS, 8, rep_sd=0.005, seed=2, effects=effects,
                 factors={name: 1.04 for name in CELLS})
    runs = [results.load(results.round_files(raw, stem), label=stem) for stem in ("myfs-a", "myfs-b")]
    assert compare.paired(*runs) == list(range(1, 9))
    paired = compare.compare(runs, ["time"])[0]
    assert all(d.paired and d.significant and 1.02 < d.ratio < 1.06 for d in paired.column(0))
    for run in runs:
        run.session = None
    apart = compare.compare(runs, ["time"])[0]
    assert not any(d.significant for d in apart.column(0))


def test_one_run_is_its_odd_rounds_against_its_even_rounds(tmp_path):
    run = run_folder_with_rounds(tmp_path / "a", rounds=12, round_sd=0.1, seed=3)
    proc = readpath("compare", run, "--metric", "time", "--fail-above", "10")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith("Self-check: ")
    assert "6.1.0-56-amd64, odd rounds" in proc.stdout
    assert "6.1.0-56-amd64, even rounds" in proc.stdout
    assert "*worse" not in proc.stdout and "*better" not in proc.stdout
    assert "No timing is significantly worse than the baseline by more than 10%" in proc.stdout
    assert proc.stdout.count("Self-check of") == 1, "the run's own, not its halves'"
    assert "taken apart" not in proc.stdout, "odd and even rounds ran interleaved"


def test_a_run_with_enough_rounds_checks_itself(tmp_path):
    base = run_folder_with_rounds(tmp_path / "a", rounds=8, seed=1)
    other = run_folder_with_rounds(tmp_path / "b", rounds=8, seed=2)
    out = readpath("compare", base, other, "--metric", "time").stdout
    check = next(line for line in out.splitlines() if line.startswith("Self-check of"))
    assert re.search(r"odd against even rounds .* mark \d+ of 9 cells", check)
    assert "First 4 against last 4 rounds" in check


@pytest.mark.parametrize("suffix", ["manual_time", "real_time"])
def test_cells_match_however_they_were_clocked(tmp_path, suffix):
    data = json.loads(BASE_FILE.read_text())
    for bench in data["benchmarks"]:
        for key in ("name", "run_name"):
            if key in bench:
                bench[key] = bench[key].replace("/real_time", f"/{suffix}")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    proc = readpath("compare", BASE_FILE, other, "--metric", "time")
    assert proc.returncode == 0, proc.stderr
    assert "pread/io:4096/file:16777216/warm:1 " in proc.stdout


LATENCY = FIXTURES / "real-tiny-ext4-latency.json"
COLD_READ = "read/io:4096/file:1048576/warm:0"


def tail_moved(tmp_path, readahead=None):
    """The latency fixture with the cold read's p99 made 3× longer and nothing else changed
    (a few requests now wait longer, the typical one does not); with `readahead` = (base,
    other), both runs also carry that myfs readahead count in the cell. Its 3 repetitions
    become 3 rounds. Returns (base, other) run folders."""
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
        paths.append(in_rounds(path, tmp_path / path.stem))
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


def test_device_requests_are_counts_compared_by_rounds_and_only_myfs_hooks_exactly():
    # One guest run a side (one round): the device's requests are shown, not tested (the
    # device is not myfs: its counts can move with what else reads it); myfs's calls in the
    # same cells are compared exactly.
    proc = readpath("compare", BLOCK_61, BLOCK_612, "--metric", "dev_reads",
                    "--metric", "myfs_bio_submit")
    assert proc.returncode == 0, proc.stderr
    cold = proc.stdout.split("device read requests per pass on myfs, file 1M, cold")[1]
    cells = [c.strip() for c in row(cold, "pread/io:4096/file:1048576/warm:0").split("|")]
    assert cells[2:4] == ["8", "6"] and cells[4] == "-25.0%" and cells[6] == "<3 rounds"
    direct = [c.strip() for c in row(cold, "pread_direct/io:4096/file:1048576/warm:0").split("|")]
    assert direct[2:4] == ["256", "256"] and direct[-2] == "", "unchanged: not marked"
    bios = proc.stdout.split("myfs bio_submit per iteration on myfs, file 1M, cold")[1]
    assert "exact" in row(bios, "pread/io:4096/file:1048576/warm:0")


def _with_instructions(folder, per_method, seed, disturbed=()):
    """Adds instructions_per_request to every round of a run folder: per method a base
    count, moved by up to ±0.2% per round as a reader's undisturbed TCG passes move it, and
    in the `disturbed` rounds (numbered from 1) 6% more with a context switch per pass, as
    when another task ran on the reader's vCPU."""
    import random
    rng = random.Random(seed)
    for path in sorted((folder / "raw").glob("*-r*.json")):
        data = json.loads(path.read_text())
        round_number = int(path.stem.rsplit("-r", 1)[1])
        for bench in data["benchmarks"]:
            method = bench["name"].split("/")[0]
            if method in per_method:
                jitter = 1 + rng.uniform(-0.002, 0.002)
                switched = round_number in disturbed
                bench["instructions_per_request"] = per_method[method] * jitter * (1.06 if switched else 1)
                bench["ctxsw"] = 1 if switched else 0
        path.write_text(json.dumps(data))
    return folder


def test_counted_instructions_mark_a_change_beyond_their_spread_and_not_within(tmp_path):
    base = _with_instructions(run_folder_with_rounds(tmp_path / "base", rounds=3),
                              {"read": 5700, "pread": 5600}, seed=1)
    new = _with_instructions(run_folder_with_rounds(tmp_path / "new", rounds=3, seed=2),
                             {"read": 5700 * 1.01, "pread": 5600 * 1.05}, seed=2, disturbed=(1, 3))
    runs = [results.load(base, label="base"), results.load(new, label="new")]
    tables = compare.compare(runs, ["instructions_per_request"])
    deltas = {row.bench.method: row.deltas[0] for t in tables for row in t.rows}
    assert deltas["pread"].counted and deltas["pread"].significant and deltas["pread"].regression
    assert deltas["read"].counted and not deltas["read"].significant
    out = compare.render(tables[0], runs)
    assert "counted" in out and "*worse" in row(out, "pread/io:4096/file:16777216/warm:1")
    assert "*" not in row(out, "read/io:4096/file:16777216/warm:1")
    assert "beyond ±2%" in out


def _with_pmu(folder, per_method, seed):
    """Adds the PMU's instructions per request to every round of a run folder: per method a
    base count, moved by up to ±3% per round (interrupts, skid)."""
    import random
    rng = random.Random(seed)
    for path in sorted((folder / "raw").glob("*.json")):
        data = json.loads(path.read_text())
        for bench in data["benchmarks"]:
            method = bench["name"].split("/")[0]
            if method in per_method:
                bench["pmu_instructions_per_request"] = per_method[method] * (1 + rng.uniform(-0.03, 0.03))
        path.write_text(json.dumps(data))
    return folder


def test_pmu_instructions_are_compared_over_rounds_like_any_sampled_count(tmp_path):
    """The PMU's counts are no near-exact TCG count: a change is tested over the rounds, and
    a planted +20% is found where nothing else moved."""
    base = _with_pmu(run_folder_with_rounds(tmp_path / "base", rounds=6), {"read": 9000, "pread": 8800}, seed=1)
    new = _with_pmu(run_folder_with_rounds(tmp_path / "new", rounds=6, seed=2),
                    {"read": 9000, "pread": 8800 * 1.20}, seed=2)
    runs = [results.load(base, label="base"), results.load(new, label="new")]
    assert "pmu_instructions_per_request" in [m.key for m in runs[0].metrics()]
    tables = compare.compare(runs)   # in the default comparison
    tables = [t for t in tables if t.metric.key == "pmu_instructions_per_request"]
    deltas = {row.bench.method: row.deltas[0] for t in tables for row in t.rows}
    assert not deltas["pread"].counted and deltas["pread"].p is not None
    assert deltas["pread"].significant and deltas["pread"].regression
    assert not deltas["read"].significant
