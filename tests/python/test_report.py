"""`readpath report`: findings first, then tables, charts and call paths."""

from conftest import FIXTURES, readpath


def report_text(*args, out):
    proc = readpath("report", *args, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return (out / "report.md").read_text()


def test_findings_lead_with_fastest_paths_and_crossovers(tmp_path):
    text = report_text(FIXTURES / "base.json", out=tmp_path)
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Findings"
    assert ("Fastest path per I/O size (tmpfs on 6.1.0-56-amd64, file 16M, warm): 4K: **pread**"
            in text)
    assert "uring qd:32 overtakes read(2) at 64K requests" in text
    assert "mmap_copy overtakes read(2) at 1M requests" in text


def test_charts_are_drawn_and_linked(tmp_path):
    text = report_text(FIXTURES / "base.json", out=tmp_path)
    assert "![throughput-tmpfs](charts/throughput-tmpfs.png)" in text
    assert (tmp_path / "charts" / "throughput-tmpfs.svg").is_file()


def test_significant_kernel_differences_are_findings(tmp_path):
    text = report_text(FIXTURES / "base.json", FIXTURES / "new.json", out=tmp_path)
    findings = text.split("## Findings")[1].split("##")[0]
    assert "6.12.117+deb12-amd64 vs 6.1.0-56-amd64, throughput on tmpfs" in findings
    assert "pread/io:4096/file:16777216/warm:1 -15." in findings


def test_real_runs_show_hook_counts_and_differing_call_paths(tmp_path):
    text = report_text(FIXTURES / "myfs-6.1.0-56-amd64.json",
                       FIXTURES / "myfs-6.12.117+deb12-amd64.json", out=tmp_path)
    assert "The call path into myfs `mmap` differs" in text
    assert "#### `mmap` — differs" in text
    assert "**__mmap_region**" in text
    assert "### myfs hook calls per iteration on myfs (exact under any accelerator)" in text
    assert "Fastest paths and crossovers are not ranked from emulated (TCG) timings." in text


def test_skipped_cells_are_grouped_by_reason(tmp_path):
    text = report_text(FIXTURES / "real-tiny-tmpfs.json", out=tmp_path)
    assert "16 cell(s)" in text and "cannot evict on tmpfs" in text


def test_report_defaults_to_the_run_folder(run_folder):
    proc = readpath("report", run_folder, "--no-charts")
    assert proc.returncode == 0, proc.stderr
    assert (run_folder / "report.md").is_file()
