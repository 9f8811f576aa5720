"""`readpath plot`: PNG and SVG charts with titles, from JSON only."""

from conftest import FIXTURES, readpath

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def charts_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_one_run_gives_throughput_ratio_fault_and_thread_charts(tmp_path):
    proc = readpath("plot", FIXTURES / "base.json", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = charts_in(tmp_path)
    for stem in ("throughput-tmpfs", "ratio-tmpfs", "fault-cost-tmpfs", "threads-tmpfs"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
        assert (tmp_path / f"{stem}.png").read_bytes().startswith(PNG_MAGIC)


def test_svg_carries_title_units_and_legend(tmp_path):
    readpath("plot", FIXTURES / "base.json", "--out", tmp_path)
    svg = (tmp_path / "throughput-tmpfs.svg").read_text()
    assert "Read throughput vs I/O size per path" in svg
    assert "throughput (GiB/s)" in svg
    assert "uring qd:32" in svg
    assert "overtakes read(2) here" in (tmp_path / "ratio-tmpfs.svg").read_text()


def test_two_runs_add_the_comparison_chart_with_confidence_intervals(tmp_path):
    proc = readpath("plot", FIXTURES / "base.json", FIXTURES / "new.json", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    svg = (tmp_path / "runs-tmpfs.svg").read_text()
    assert "95% CI" in svg


def test_emulated_timings_are_marked_in_titles(tmp_path):
    readpath("plot", FIXTURES / "myfs-6.1.0-56-amd64.json", "--out", tmp_path)
    assert "EMULATED" in (tmp_path / "throughput-myfs.svg").read_text()


def test_run_folder_gets_its_charts_folder(run_folder):
    proc = readpath("plot", run_folder)
    assert proc.returncode == 0, proc.stderr
    assert (run_folder / "charts" / "throughput-tmpfs.png").is_file()


def test_each_filesystem_is_titled_with_the_kernel_it_ran_on(tmp_path):
    # A host run (tmpfs) with its myfs guest run beside it: two kernels in one folder.
    raw = tmp_path / "run" / "raw"
    raw.mkdir(parents=True)
    for name in ("real-tiny-tmpfs.json", "myfs-6.1.0-56-amd64.json"):
        (raw / name).write_text((FIXTURES / name).read_text())
    proc = readpath("plot", tmp_path / "run", "--out", tmp_path / "charts")
    assert proc.returncode == 0, proc.stderr
    assert "kernel 6.1.0-56-amd64" in (tmp_path / "charts" / "throughput-myfs.svg").read_text()
    assert "kernel 6.1.0-56-amd64" not in (tmp_path / "charts" / "throughput-tmpfs.svg").read_text()
