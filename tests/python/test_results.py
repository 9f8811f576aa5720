"""Loading result files and run folders into benchmarks with per-repetition samples."""

import json

import pytest

from conftest import FIXTURES
from readpath_lib import results
from readpath_lib.errors import UsageError


def test_parse_name_reads_arg_names_and_ignores_google_benchmark_suffixes():
    method, params = results.parse_name("uring/io:4096/file:1048576/warm:0/qd:8/real_time/threads:1")
    assert method == "uring"
    assert params == {"io": 4096, "file": 1048576, "warm": 0, "qd": 8, "threads": 1}


def test_repetitions_become_samples_and_aggregates_are_not_counted_twice():
    run = results.load(FIXTURES / "base.json")
    bench = run.benchmarks[("tmpfs", "pread/io:4096/file:1048576/warm:1")]
    assert len(bench.values("time")) == 8
    assert len(bench.values("bytes_per_second")) == 8


def test_real_run_records_skipped_cells_with_the_engine_reason():
    run = results.load(FIXTURES / "real-tiny-tmpfs.json")
    cold = [b for b in run.benchmarks.values() if b.params.get("warm") == 0]
    assert cold and all("tmpfs" in b.skipped for b in cold)
    warm = [b for b in run.benchmarks.values() if b.params.get("warm") == 1]
    assert warm and all(not b.skipped and len(b.values("time")) == 3 for b in warm)


def test_target_is_the_filesystem_type_and_tcg_timings_are_marked_emulated():
    run = results.load(FIXTURES / "myfs-6.1.0-56-amd64.json")
    assert run.targets() == ["myfs"]
    assert run.emulated("myfs")
    assert results.load(FIXTURES / "base.json").emulated("tmpfs") is False


def test_run_folder_loads_every_raw_file(run_folder):
    (run_folder / "raw" / "myfs.json").write_text(
        (FIXTURES / "myfs-6.1.0-56-amd64.json").read_text())
    run = results.load(run_folder)
    assert run.targets() == ["myfs", "tmpfs"]
    assert len(run.files) == 2


def test_aggregates_only_file_uses_the_mean(tmp_path):
    data = json.loads((FIXTURES / "base.json").read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["run_type"] == "aggregate"]
    path = tmp_path / "agg.json"
    path.write_text(json.dumps(data))
    run = results.load(path)
    bench = run.benchmarks[("tmpfs", "read/io:4096/file:1048576/warm:1")]
    assert len(bench.values("time")) == 1


@pytest.mark.parametrize("name, message", [
    ("truncated.json", "not valid JSON"),
    ("empty.json", "no benchmarks"),
])
def test_bad_files_raise_one_usage_error(name, message):
    with pytest.raises(UsageError, match=message):
        results.load(FIXTURES / name)


def test_labels_are_made_unique():
    runs = results.load_all([FIXTURES / "base.json", FIXTURES / "base.json"])
    assert [r.label for r in runs] == ["6.1.0-56-amd64", "6.1.0-56-amd64#2"]


@pytest.mark.parametrize("value, unit, text", [
    (2.5 * 2**30, "B/s", "2.5 GiB/s"), (1500, "ns", "1.5 µs"), (256.0, "", "256"),
])
def test_format_value_uses_human_units(value, unit, text):
    assert results.format_value(value, unit) == text


def test_a_latency_sidecar_is_not_a_result_file(run_folder):
    """readpath_bench --latency writes FILE.latency.json beside each result file: the
    histograms belong to FILE, and loading the folder reads only the results."""
    files = results.result_files(run_folder)
    (run_folder / "raw" / (files[0].name + results.LATENCY_SIDECAR)).write_text(
        json.dumps({"bucket_scheme": {}, "cells": {}}))
    assert results.result_files(run_folder) == files
    assert results.load(run_folder).files == files


LATENCY = FIXTURES / "real-tiny-ext4-latency.json"
COLD_READ = ("ext4", "read/io:4096/file:1048576/warm:0/threads:1")


def test_latency_percentiles_are_timings_in_ns_per_repetition():
    run = results.load(LATENCY)
    metrics = {m.key: m for m in run.metrics()}
    for key in ("lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
                "lat_mean_ns"):
        assert metrics[key].unit == "ns" and metrics[key].timing
        assert not metrics[key].higher_is_better
    assert len(run.benchmarks[COLD_READ].values("lat_p99_ns")) == 6


def test_the_sidecar_histograms_are_merged_over_the_repetitions():
    run = results.load(LATENCY)
    bench = run.benchmarks[COLD_READ]
    histogram = run.latency(bench)
    assert sum(count for _, _, count in histogram) == sum(bench.values("lat_count"))
    assert all(low < high for low, high, _ in histogram)
    assert [low for low, _, _ in histogram] == sorted({low for low, _, _ in histogram})
    assert histogram[-1][1] > max(bench.values("lat_max_ns"))
    assert run.latency(COLD_READ) == histogram


def test_a_run_without_a_latency_pass_has_no_histograms_and_no_latency_metrics():
    run = results.load(FIXTURES / "base.json")
    assert not any(m.key.startswith("lat_") for m in run.metrics())
    assert all(run.latency(b) == [] for b in run.benchmarks.values())


def test_a_damaged_sidecar_is_one_usage_error(tmp_path):
    path = tmp_path / LATENCY.name
    path.write_text(LATENCY.read_text())
    (tmp_path / (LATENCY.name + results.LATENCY_SIDECAR)).write_text('{"cells": {"x": [1]}}')
    run = results.load(path)   # the histograms are read when asked for
    with pytest.raises(UsageError, match="not the latency file"):
        run.latency(COLD_READ)


def test_round_files_are_the_rounds_in_order_without_their_sidecars(tmp_path):
    for n in (1, 2, 10):
        (tmp_path / f"myfs-default-r{n}.json").write_text("{}")
        (tmp_path / f"myfs-default-r{n}.json{results.LATENCY_SIDECAR}").write_text("{}")
    (tmp_path / "myfs-default_2-r1.json").write_text("{}")
    assert [f.name for f in results.round_files(tmp_path, "myfs-default")] == \
        ["myfs-default-r1.json", "myfs-default-r2.json", "myfs-default-r10.json"]
