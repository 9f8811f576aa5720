"""`readpath plot`: PNG and SVG charts with titles, from JSON only.

Each series line carries an SVG id `series/<label>/<panel>` (spaces as `_`, `:` as `=`),
so these tests can find a method's line and its stroke colour in the SVG text."""

import json
import re

import pytest

from pathlib import Path

from conftest import CELLS, FIXTURES, in_rounds, readpath, write_rounds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MYFS_OLD = FIXTURES / "myfs-6.1.0-56-amd64.json"
MYFS_NEW = FIXTURES / "myfs-6.12.117+deb12-amd64.json"


def charts_in(folder):
    return sorted(p.name for p in folder.iterdir())


def plot(tmp_path, *results):
    """Charts of fixtures (by name) or run folders (paths) into tmp_path."""
    proc = readpath("plot", *[r if isinstance(r, Path) else FIXTURES / r for r in results],
                    "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def strokes(svg, label):
    """{panel: (stroke colour, dash pattern or None)} of a series' lines in an SVG."""
    gid = label.replace(" ", "_").replace(":", "=")
    found = {}
    for panel, style in re.findall(
            rf'<g id="series/{re.escape(gid)}/(\d+)">\s*<path [^>]*style="([^"]*)"', svg):
        dashes = re.search(r"stroke-dasharray: ([^;]+)", style)
        found[panel] = (re.search(r"stroke: (#[0-9a-f]{6})", style).group(1),
                        dashes.group(1) if dashes else None)
    return found


def colour_of(svg, label):
    colours = {colour for colour, _ in strokes(svg, label).values()}
    assert len(colours) == 1, f"{label}: {colours or 'not drawn'}"
    return colours.pop()


def test_one_run_gives_throughput_ratio_fault_and_thread_charts(tmp_path):
    names = charts_in(plot(tmp_path, "base.json"))
    for stem in ("throughput-tmpfs", "ratio-tmpfs", "fault-cost-tmpfs", "threads-tmpfs"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
        assert (tmp_path / f"{stem}.png").read_bytes().startswith(PNG_MAGIC)
    assert not any(n.startswith("hooks-") for n in names), "tmpfs has no myfs hook counters"


def test_a_filesystem_named_by_statfs_alone_gets_files_not_folders(tmp_path):
    # In a chroot whose root mount lies outside it, the engine names ext4 from statfs alone.
    data = json.loads((FIXTURES / "base.json").read_text())
    data["context"]["fs"] = "ext2/ext3/ext4"
    (tmp_path / "chroot.json").write_text(json.dumps(data))
    proc = readpath("plot", tmp_path / "chroot.json", "--out", tmp_path / "charts")
    assert proc.returncode == 0, proc.stderr
    assert "throughput-ext2-ext3-ext4.png" in charts_in(tmp_path / "charts")


def test_svg_carries_title_units_and_legend(tmp_path):
    plot(tmp_path, "base.json")
    svg = (tmp_path / "throughput-tmpfs.svg").read_text()
    assert "Read throughput vs I/O size" in svg
    assert "throughput (GiB/s)" in svg
    assert "uring qd:32" in svg
    assert "io_uring" in svg, "a panel per family, titled with it"


def test_every_point_is_explained_with_its_interval_over_the_rounds(tmp_path):
    plot(tmp_path / "charts", in_rounds(FIXTURES / "base.json", tmp_path / "base"))
    for stem in ("throughput-tmpfs", "ratio-tmpfs", "fault-cost-tmpfs", "threads-tmpfs"):
        svg = (tmp_path / "charts" / f"{stem}.svg").read_text()
        assert "point: rounds' geometric mean, bar: its 95% CI" in svg
        assert "no bar" not in svg, "eight rounds give every point its interval"


def test_one_round_draws_no_bar_and_says_why(tmp_path):
    # base.json as it is: one process, eight repetitions; a range of repetitions is not an
    # interval a rerun would fall in, so no bar claims to be one.
    svg = (plot(tmp_path, "base.json") / "throughput-tmpfs.svg").read_text()
    assert "no bar: fewer than 3 rounds, no interval" in svg


def test_noisy_points_are_explained_only_where_there_are_some(tmp_path):
    # base.json's repetitions (one round) vary < 1%; the tiny real run's by up to 70%.
    plot(tmp_path / "quiet", "base.json")
    plot(tmp_path / "noisy", "real-tiny-tmpfs.json")
    note = "hollow: its rounds vary by more than 3%"
    assert note not in (tmp_path / "quiet" / "throughput-tmpfs.svg").read_text()
    assert note in (tmp_path / "noisy" / "throughput-tmpfs.svg").read_text()


def test_a_chart_with_no_steady_point_says_what_would_steady_them(tmp_path):
    # Every round moves every cell by ~20% (a busy machine): every point is hollow, and
    # the chart says so and what to do; where most rounds agree the usual note stays.
    write_rounds(tmp_path / "busy" / "raw", "file16777216", CELLS, rounds=6, round_sd=0.2)
    write_rounds(tmp_path / "calm" / "raw", "file16777216", CELLS, rounds=6, round_sd=0.002,
                 rep_sd=0.001)
    plot(tmp_path / "busy-charts", tmp_path / "busy")
    plot(tmp_path / "calm-charts", tmp_path / "calm")
    busy = (tmp_path / "busy-charts" / "throughput-tmpfs.svg").read_text()
    calm = (tmp_path / "calm-charts" / "throughput-tmpfs.svg").read_text()
    assert "every point hollow" in busy and "more rounds (--rounds)" in busy
    assert "every point hollow" not in calm and "hollow: its rounds vary" not in calm


def test_fault_only_methods_are_drawn_only_in_the_fault_cost_chart(tmp_path):
    plot(tmp_path, "real-tiny-tmpfs.json")
    fault_cost = (tmp_path / "fault-cost-tmpfs.svg").read_text()
    for method in ("mmap_touch", "mmap_populate"):
        assert strokes(fault_cost, method)
        for stem in ("throughput-tmpfs", "ratio-tmpfs"):
            assert not strokes((tmp_path / f"{stem}.svg").read_text(), method), (method, stem)
    assert "not here: mmap_populate, mmap_touch" in \
        (tmp_path / "throughput-tmpfs.svg").read_text()


def test_a_method_keeps_its_colour_in_every_chart(tmp_path):
    plot(tmp_path, "base.json")
    throughput = (tmp_path / "throughput-tmpfs.svg").read_text()
    assert colour_of(throughput, "uring qd:32") == \
        colour_of((tmp_path / "ratio-tmpfs.svg").read_text(), "uring qd:32")
    assert colour_of(throughput, "read") == \
        colour_of((tmp_path / "threads-tmpfs.svg").read_text(), "read io:64K")


def test_a_method_keeps_its_colour_across_runs_drawn_together(tmp_path):
    # The runs' method tables differ (only the second has uring_fixed); one palette.
    plot(tmp_path, "base.json", "real-tiny-tmpfs.json")
    first = (tmp_path / "throughput-tmpfs-6.1.0-56-amd64.svg").read_text()
    second = (tmp_path / "throughput-tmpfs-6.18.44-fc-v595.svg").read_text()
    assert colour_of(first, "uring qd:32") == colour_of(second, "uring qd:1")
    assert colour_of(first, "mmap_copy") == colour_of(second, "mmap_copy")


def red_green_blue(colour):
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("label, hue", [("read", 2), ("pread", 2), ("uring qd:1", 1),
                                        ("uring_fixed qd:8", 1), ("mmap_copy", 0)])
def test_each_family_has_its_own_colour_ramp(tmp_path, label, hue):
    plot(tmp_path, "real-tiny-tmpfs.json")
    rgb = red_green_blue(colour_of((tmp_path / "throughput-tmpfs.svg").read_text(), label))
    assert max(range(3), key=lambda i: rgb[i]) == hue, (label, rgb)


def test_queue_depths_share_the_colour_and_differ_in_line_style(tmp_path):
    plot(tmp_path, "real-tiny-tmpfs.json")
    svg = (tmp_path / "throughput-tmpfs.svg").read_text()
    (qd1,) = set(strokes(svg, "uring qd:1").values())
    (qd8,) = set(strokes(svg, "uring qd:8").values())
    assert qd1[0] == qd8[0]
    assert qd1[1] != qd8[1]
    assert colour_of(svg, "uring_fixed qd:1") != qd1[0], "methods of a family differ in shade"


def test_crossovers_are_starred_only_where_io_uring_overtakes_read_beyond_noise(tmp_path):
    # base.json: uring qd:32 passes read(2) at 64K with disjoint CIs; the tiny real run's
    # io_uring never does.
    plot(tmp_path / "base", "base.json")
    plot(tmp_path / "real", "real-tiny-tmpfs.json")
    assert "io_uring overtakes read(2) here" in (tmp_path / "base" / "ratio-tmpfs.svg").read_text()
    assert "overtakes" not in (tmp_path / "real" / "ratio-tmpfs.svg").read_text()


def test_an_emulated_run_gets_hook_counts_and_no_timing_charts(tmp_path):
    assert charts_in(plot(tmp_path, MYFS_OLD.name)) == ["hooks-myfs.png", "hooks-myfs.svg"]
    svg = (tmp_path / "hooks-myfs.svg").read_text()
    assert "exact under any accelerator" in svg
    assert "read_iter\nper request" in svg or "read_iter" in svg
    # small multiples: a 4K read makes one read_iter call per request, cold or warm
    assert re.search(r'<g id="series/read_warm=0/\d+">', svg) and re.search(r'<g id="series/read_warm=1/\d+">', svg)


def test_every_chart_fits_a_screen(tmp_path):
    plot(tmp_path, MYFS_OLD.name, MYFS_NEW.name, "real-tiny-tmpfs.json")
    for png in tmp_path.glob("*.png"):
        data = png.read_bytes()[16:24]
        width, height = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big")
        assert max(width, height) <= 1600, (png.name, width, height)


def test_two_emulated_runs_get_the_runs_chart_marked_emulated(tmp_path):
    names = charts_in(plot(tmp_path, MYFS_OLD.name, MYFS_NEW.name))
    assert "runs-myfs.svg" in names
    assert not any(n.startswith(("throughput-", "ratio-", "fault-cost-", "threads-"))
                   for n in names)
    svg = (tmp_path / "runs-myfs.svg").read_text()
    assert "emulated (TCG)" in svg
    # one round a side (one guest run each) gives a ratio no interval
    assert "no bar: fewer than 3 rounds, no interval" in svg


def test_two_runs_add_the_comparison_chart_with_confidence_intervals(tmp_path):
    plot(tmp_path / "charts", in_rounds(FIXTURES / "base.json", tmp_path / "base"),
         in_rounds(FIXTURES / "new.json", tmp_path / "new"))
    svg = (tmp_path / "charts" / "runs-tmpfs.svg").read_text()
    assert "point: ratio over the rounds, bar: its 95% CI" in svg
    assert "no bar" not in svg, "eight rounds a side give every ratio its interval"
    assert "emulated" not in svg


def test_run_folder_gets_its_charts_folder(run_folder):
    proc = readpath("plot", run_folder)
    assert proc.returncode == 0, proc.stderr
    assert (run_folder / "charts" / "throughput-tmpfs.png").is_file()


def test_each_filesystem_is_titled_with_the_kernel_it_ran_on(tmp_path):
    # A host run (tmpfs) with its myfs guest run beside it: two kernels in one folder.
    raw = tmp_path / "run" / "raw"
    raw.mkdir(parents=True)
    for name in ("real-tiny-tmpfs.json", MYFS_OLD.name):
        (raw / name).write_text((FIXTURES / name).read_text())
    proc = readpath("plot", tmp_path / "run", "--out", tmp_path / "charts")
    assert proc.returncode == 0, proc.stderr
    assert "kernel 6.1.0-56-amd64" in (tmp_path / "charts" / "hooks-myfs.svg").read_text()
    assert "kernel 6.1.0-56-amd64" not in (tmp_path / "charts" / "throughput-tmpfs.svg").read_text()


def test_latency_cdfs_draw_warm_and_cold_of_each_path_only_where_measured(tmp_path):
    names = charts_in(plot(tmp_path, "real-tiny-ext4-latency.json"))
    assert "latency-ext4.png" in names and "latency-ext4.svg" in names
    svg = (tmp_path / "latency-ext4.svg").read_text()
    assert "Latency per request" in svg and "latency per request (log scale)" in svg
    for label in ("read warm:1", "read warm:0", "uring qd:8 warm:1", "uring qd:8 warm:0"):
        assert strokes(svg, label), f"{label} not drawn"
    assert colour_of(svg, "read warm:1") == colour_of(svg, "read warm:0")
    assert "cold cache: full line" in svg and "p99" in svg
    assert not any(n.startswith("latency-") for n in charts_in(plot(tmp_path / "b", "base.json")))


def test_o_direct_paths_are_marked_in_the_legend_and_page_cache_ones_are_not(tmp_path):
    plot(tmp_path, "block-6.12.117+deb12-amd64.json")
    svg = (tmp_path / "throughput-myfs.svg").read_text()
    legend = re.findall(r"<text [^>]*>([^<]*)</text>", svg)
    assert "pread_direct (O_DIRECT)" in legend and "uring_direct qd:8 (O_DIRECT)" in legend
    assert "pread" in legend and "uring qd:8" in legend, legend
