"""`readpath report`: findings first, then tables, charts and call paths."""

from conftest import FIXTURES, in_rounds, readpath
from readpath_lib import results


def report_text(*args, out):
    proc = readpath("report", *args, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return (out / "report.md").read_text()


def section(text, title):
    return text.split(f"\n## {title}\n")[1].split("\n## ")[0]


def cheapest(text):
    """{row: [cells]} of the report's first table, the cheapest path per request size."""
    rows = [line for line in section(text, "Cheapest path per request size").splitlines()
            if line.startswith("| ") and not line.startswith("| --")]
    return {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.split("|")[1:-1]] for line in rows[1:])}


def test_the_report_leads_with_the_cheapest_path_per_size_then_findings(tmp_path):
    text = report_text(in_rounds(FIXTURES / "base.json", tmp_path / "base"), out=tmp_path)
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## Cheapest path per request size", "## Findings"]
    row = cheapest(text)["tmpfs, file 16M, warm"]
    assert row[0].startswith("**pread**") and "±" in row[0] and "× read)" in row[0]
    assert "uring qd:32 overtakes read(2) beyond noise at 64K" in findings_of(text)
    # the answer on the first screen
    first_screen = "\n".join(text.splitlines()[:40])
    assert "Cheapest path per request size" in first_screen and "file 16M, warm" in first_screen


def findings_of(text):
    return text.split("## Findings")[1].split("\n## ")[0]


def test_no_fault_only_path_or_mapping_copy_is_ranked_with_the_reads(tmp_path):
    for fixture in ("real-tiny-tmpfs.json", "base.json"):
        table = section(report_text(FIXTURES / fixture, out=tmp_path / fixture),
                        "Cheapest path per request size")
        assert not any(m in table for m in ("mmap_touch", "mmap_populate", "mmap_copy"))


def test_a_copy_from_a_mapping_says_what_was_timed(tmp_path):
    findings = findings_of(report_text(FIXTURES / "base.json", out=tmp_path))
    line = next(l for l in findings.splitlines() if l.startswith("- mmap_copy"))
    assert "a copy out of a mapping that lives across passes" in line
    assert "not the cost of reading through mmap" in line


def test_paths_whose_intervals_overlap_are_called_a_tie(tmp_path):
    import json
    from readpath_lib.results import short_name
    data = json.loads((FIXTURES / "base.json").read_text())
    pread = {(short_name(b["name"]), b.get("repetition_index")): b for b in data["benchmarks"]
             if b["name"].startswith("pread/")}
    for bench in data["benchmarks"]:   # make read exactly as fast as pread
        twin = pread.get(("p" + short_name(bench["name"]), bench.get("repetition_index")))
        if bench["name"].startswith("read/") and twin:
            for key in ("real_time", "cpu_time", "bytes_per_second"):
                bench[key] = twin[key]
    tied = tmp_path / "tied.json"
    tied.write_text(json.dumps(data))
    row = cheapest(report_text(tied, out=tmp_path / "out"))["tmpfs, file 16M, warm"]
    assert row[0].startswith(("pread ≈ read", "read ≈ pread")), row


def test_every_throughput_carries_its_uncertainty(tmp_path):
    text = report_text(in_rounds(FIXTURES / "base.json", tmp_path / "base"), out=tmp_path)
    table = text.split("### Throughput (GiB/s), tmpfs on 6.1.0-56-amd64, file 16M")[1]
    assert "geometric mean of the rounds' medians (8 rounds)" in table
    line = next(l for l in table.splitlines() if l.startswith("| pread "))
    assert all("±" in cell for cell in line.split("|")[2:-1])


def test_what_each_path_times_comes_from_the_engine(tmp_path):
    text = report_text(FIXTURES / "base.json", out=tmp_path)
    assert "## What each path times" in text
    assert "memcpy out of a mapping made before timing" in text


def test_charts_are_drawn_and_linked(tmp_path):
    text = report_text(FIXTURES / "base.json", out=tmp_path)
    assert "![throughput-tmpfs](charts/throughput-tmpfs.png)" in text
    assert (tmp_path / "charts" / "throughput-tmpfs.svg").is_file()


def test_significant_kernel_differences_are_findings(tmp_path):
    text = report_text(in_rounds(FIXTURES / "base.json", tmp_path / "base"),
                       in_rounds(FIXTURES / "new.json", tmp_path / "new"), out=tmp_path)
    findings = findings_of(text)
    assert "6.12.117+deb12-amd64 vs 6.1.0-56-amd64, time per iteration on tmpfs" in findings
    assert "pread/io:4096/file:16777216/warm:1 17.7% slower" in findings


def test_a_counter_change_is_explained_by_the_hook_counts_beside_it(tmp_path):
    text = report_text(FIXTURES / "myfs-6.1.0-56-amd64.json",
                       FIXTURES / "myfs-6.12.117+deb12-amd64.json", out=tmp_path)
    line = next(l for l in findings_of(text).splitlines() if "major faults" in l)
    # one guest run a side: not a test, but the same count in every repetition, said so
    assert "mmap_copy/io:4096/file:1048576/warm:0" in line
    assert "9 → 1 in every repetition (too few rounds to test it)" in line
    assert "myfs saw the same 8 readahead, 9 fault, 1 fault_major per pass on both" in line
    assert "the kernel accounts the same faults differently" in line


def test_real_runs_show_hook_counts_and_differing_call_paths(tmp_path):
    text = report_text(FIXTURES / "myfs-6.1.0-56-amd64.json",
                       FIXTURES / "myfs-6.12.117+deb12-amd64.json", out=tmp_path)
    assert "The call path into myfs `mmap` differs" in text
    assert "#### `mmap` — differs" in text
    assert "**__mmap_region**" in text
    assert "### myfs hook calls per iteration on myfs (exact under any accelerator)" in text
    assert "Emulated (TCG): " in text and "Its timings rank nothing" in text
    assert "Cheapest path per request size" not in text and "### Throughput" not in text


def test_skipped_cells_are_grouped_by_reason(tmp_path):
    text = report_text(FIXTURES / "real-tiny-tmpfs.json", out=tmp_path)
    assert "16 cell(s)" in text and "cannot evict on tmpfs" in text


def test_report_defaults_to_the_run_folder(run_folder):
    proc = readpath("report", run_folder, "--no-charts")
    assert proc.returncode == 0, proc.stderr
    assert (run_folder / "report.md").is_file()


def test_latency_per_request_gets_its_section_with_the_timer_overhead(tmp_path):
    text = report_text(FIXTURES / "real-tiny-ext4-latency.json", "--no-charts", out=tmp_path)
    section = text.split("\n## Latency per request\n")[1].split("\n## ")[0]
    assert "### Latency per request, ext4 on 6.18.44-fc-v657" in section
    assert section.count("timer overhead 20 ns, not subtracted") == 1
    cold = section.split("file 1M, cold:")[1]
    header = next(l for l in cold.splitlines() if l.startswith("| path"))
    assert [c.strip() for c in header.split("|")[1:-1]] == ["path", "p50", "p90", "p99",
                                                            "p99.9", "max"]
    row = next(l for l in cold.splitlines() if l.startswith("| read io:4K "))
    assert row.count("µs") >= 2, "a cold read's tail waits for the disk"


def test_no_latency_section_without_a_latency_pass(tmp_path):
    text = report_text(FIXTURES / "base.json", "--no-charts", out=tmp_path)
    assert "Latency per request" not in text


BLOCK_61 = FIXTURES / "block-6.1.0-56-amd64.json"
BLOCK_612 = FIXTURES / "block-6.12.117+deb12-amd64.json"


def table_row(text, first_cell):
    return [c.strip() for c in next(l for l in text.splitlines()
                                    if l.startswith(f"| {first_cell} ")).split("|")[1:-1]]


def test_call_paths_say_per_hook_where_calls_came_from_on_each_kernel(tmp_path):
    paths = section(report_text(BLOCK_61, BLOCK_612, "--no-charts", out=tmp_path),
                    "Call paths per hook (myfs, trace=once)")
    read_iter = paths.split("#### `read_iter`")[1].split("####")[0]
    assert table_row(read_iter, "reached from") == [
        "reached from", "calls on 6.1.0-56-amd64", "calls on 6.12.117+deb12-amd64"]
    assert table_row(read_iter, "pread(2)") == ["pread(2)", "768", "768"]
    assert table_row(read_iter, "io_uring worker (io-wq)") == ["io_uring worker (io-wq)",
                                                                "272", "-"]
    assert table_row(read_iter, "io_uring_enter(2)") == ["io_uring_enter(2)", "-", "272"]
    readahead = paths.split("#### `readahead`")[1].split("####")[0]
    assert table_row(readahead, "other stacks (not recorded)")[1:] == ["-", "3"]


def test_the_way_down_to_the_driver_is_set_side_by_side_per_kernel(tmp_path):
    paths = section(report_text(BLOCK_61, BLOCK_612, "--no-charts", out=tmp_path),
                    "Call paths per hook (myfs, trace=once)")
    submit = paths.split("`bio_submit` from pread(2):")[1].split("\n\n")[1]
    assert "6.1.0-56-amd64 (16 calls)" in submit and "6.12.117+deb12-amd64 (16 calls)" in submit
    assert "**" not in submit, "the same stack on both kernels"
    # A major fault's completion: inside null_queue_rq on 6.1, from a softirq on 6.12.
    fault = paths.split("`bio_complete` from page fault:")[1].split("\n\n")[1]
    assert "6.1.0-56-amd64 (10 calls)" in fault and "6.12.117+deb12-amd64 (10 calls)" in fault
    assert "**null_queue_rq**" in fault and "**handle_softirqs**" in fault
    assert "`myfs_end_io`" in fault and "`asm_exc_page_fault`" in fault


def test_differing_entry_points_are_findings(tmp_path):
    findings = findings_of(report_text(BLOCK_61, BLOCK_612, "--no-charts", out=tmp_path))
    line = next(l for l in findings.splitlines() if "`read_iter` differs" in l)
    assert "only 6.1.0-56-amd64 reaches it from io_uring worker (io-wq), 272 calls" in line
    assert "only 6.12.117+deb12-amd64 reaches it from io_uring_enter(2), 272 calls" in line
    assert not any("`bio_submit` differs" in l for l in findings.splitlines())


def test_the_device_section_sets_requests_beside_myfs_calls(tmp_path):
    device = section(report_text(BLOCK_61, BLOCK_612, "--no-charts", out=tmp_path), "Device")
    assert table_row(device, "I/O scheduler") == ["I/O scheduler", "none", "mq-deadline"]
    assert table_row(device, "block device") == ["block device", "nullb0", "nullb0"]
    header = table_row(device, "benchmark")
    assert header[:6] == ["benchmark", "requests", "merges", "KiB", "KiB/request", "ms"]
    assert {"bio_submit", "bio_pages", "direct_read"} <= set(header[6:])
    cold = dict(zip(header, table_row(device, "pread/io:4096/file:1048576/warm:0")))
    assert cold["requests"] == "**8 / 6**" and cold["merges"] == "**0 / 2**"
    assert cold["bio_submit"] == "8 / 8", "the same bios, fewer requests: merged below myfs"
    direct = dict(zip(header, table_row(device, "pread_direct/io:4096/file:1048576/warm:0")))
    assert direct["requests"] == "256 / 256" and direct["direct_read"] == "256 / 256"
    assert "warm:1" not in device and "5 cell(s) read nothing from the device" in device


def test_a_changed_scheduler_is_stated_and_the_same_device_is_not(tmp_path):
    changed = findings_of(report_text(BLOCK_61, BLOCK_612, "--no-charts", out=tmp_path / "a"))
    assert ("6.12.117+deb12-amd64 vs 6.1.0-56-amd64 on myfs: the device changed (I/O scheduler "
            "none → mq-deadline)") in changed
    merges = next(l for l in changed.splitlines() if "device read merges per pass" in l)
    assert "myfs submitted the same bios" in merges
    same = findings_of(report_text(BLOCK_61, BLOCK_61, "--no-charts", out=tmp_path / "b"))
    assert "device changed" not in same


def test_no_device_section_off_a_block_device(tmp_path):
    text = report_text(FIXTURES / "myfs-6.1.0-56-amd64.json", "--no-charts", out=tmp_path)
    assert "\n## Device\n" not in text


def test_o_direct_ranked_beside_buffered_reads_says_it_bypasses_the_page_cache(tmp_path):
    text = report_text(BLOCK_61, "--no-charts", out=tmp_path)
    rows = cheapest(text)
    cold = " ".join(next(cells for name, cells in rows.items() if "cold" in name))
    assert "(O_DIRECT)" in cold
    note = section(text, "Cheapest path per request size")
    assert "pread_direct, uring_direct qd:" in note
    assert "read with O_DIRECT, bypassing the page cache" in note
    assert "two kinds of path" in note
    warm = " ".join(next(cells for name, cells in rows.items() if "warm" in name))
    assert "direct" not in warm and "O_DIRECT" not in warm, "O_DIRECT has no warm cells"
    methods = section(text, "What each path times")
    assert table_row(methods, "pread_direct")[4] == "bypassed (O_DIRECT)"
    assert table_row(methods, "pread")[4] == "through it"


def test_io_uring_o_direct_is_set_against_o_direct_read_not_buffered(tmp_path):
    import json
    data = json.loads(BLOCK_61.read_text())   # pread as read: read(2) is the reference
    data["context"]["methods"] = data["context"]["methods"].replace('"pread"', '"read"')
    for bench in data["benchmarks"]:
        for key in ("name", "run_name"):
            if bench[key].startswith("pread/"):
                bench[key] = bench[key][1:]
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(data))
    findings = findings_of(report_text(renamed, "--no-charts", out=tmp_path / "out"))
    crossings = [l for l in findings.splitlines() if "overtakes" in l or " beats " in l]
    assert ("uring_direct qd:8 (O_DIRECT) beats pread_direct (O_DIRECT) beyond noise "
            "at every size") in findings
    assert not any("uring_direct" in l and "read(2)" in l for l in crossings)


def test_cold_only_methods_are_charted_in_the_cold_panels_alone(tmp_path):
    proc = readpath("plot", BLOCK_61, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    svg = (tmp_path / "throughput-myfs.svg").read_text()
    import re
    direct = set(re.findall(r'<g id="series/pread_direct/(\d+)">', svg))
    buffered = set(re.findall(r'<g id="series/pread/(\d+)">', svg))
    assert direct and direct < buffered, "pread_direct in the cold panel, pread in warm too"


def test_real_io_uring_stacks_are_paired_whichever_way_io_uring_issued_them(tmp_path):
    import shutil
    for stem, kernel in (("a", "6.1.0-56-amd64"), ("b", "6.12.117+deb12-amd64")):
        shutil.copy(FIXTURES / f"myfs-{kernel}.json", tmp_path / f"{stem}.json")
        shutil.copy(FIXTURES / f"real-pagecache-{kernel}.paths", tmp_path / f"{stem}.paths")
    paths = section(report_text(tmp_path / "a.json", tmp_path / "b.json", "--no-charts",
                                out=tmp_path / "out"), "Call paths per hook (myfs, trace=once)")
    pair = paths.split("`read_iter` from io_uring (io_uring_enter(2) / io_uring worker "
                       "(io-wq)):")[1].split("\n\n")[1]
    assert "6.1.0-56-amd64 (64 calls)" in pair and "6.12.117+deb12-amd64 (64 calls)" in pair
    assert "`io_issue_sqe`" in pair, "the frames both share are not marked"
    assert "**__do_sys_io_uring_enter**" in pair and "**io_wq_worker**" in pair


# readpath_bench on myfs over null_blk (irqmode=0, scheduler none) in a 6.12 TCG guest, the
# tiny profile at 1M with pread, pread_direct, uring, uring_direct and mmap_touch; the paths
# are that mount's, recorded with trace=once.
REAL_BLOCK = FIXTURES / "real-block-6.12.117+deb12-amd64.json"


def test_real_block_run_shows_the_device_below_myfs(tmp_path):
    text = report_text(REAL_BLOCK, "--no-charts", out=tmp_path)
    device = section(text, "Device")
    assert table_row(device, "block device") == ["block device", "nullb0"]
    header = table_row(device, "benchmark")
    direct = dict(zip(header, table_row(device, "pread_direct/io:4096/file:1048576/warm:0")))
    assert direct["requests"] == "256" and direct["direct_read"] == "256"
    assert direct["bio_submit"] == "0", "O_DIRECT does not come through myfs's readahead bios"
    buffered = dict(zip(header, table_row(device, "pread/io:65536/file:1048576/warm:0")))
    assert buffered["KiB"] == "1024" and buffered["bio_pages"] == "256"
    assert "warm:1" not in device


def test_real_block_paths_go_from_read_down_to_the_driver_and_back(tmp_path):
    paths = section(report_text(REAL_BLOCK, "--no-charts", out=tmp_path),
                    "Call paths per hook (myfs, trace=once)")
    complete = paths.split("`bio_complete` from pread(2):")[1].split("\n\n")[1]
    frames = [line.split("|")[1].strip().strip("`") for line in complete.splitlines()[2:]]
    assert frames.index("null_queue_rq") < frames.index("read_pages") < \
        frames.index("__x64_sys_pread64"), "completed inside queue_rq, under pread(2)"
    submit = paths.split("#### `bio_submit`")[1].split("####")[0]
    assert {"pread(2)", "page fault", "io_uring worker (io-wq)"} <= {
        line.split("|")[1].strip() for line in submit.splitlines() if line.startswith("| ")}


def test_counted_instructions_are_shown_and_a_change_beyond_their_spread_is_found(tmp_path):
    """Instructions per request (counted under TCG) get a table of their own, bold where runs
    differ beyond the counts' A/A spread, and such a change is a finding."""
    import json
    from conftest import run_folder_with_rounds
    folders = []
    for name, pread in (("base", 5600), ("new", 5600 * 1.10)):
        folder = run_folder_with_rounds(tmp_path / name, rounds=3)
        for path in (folder / "raw").glob("*.json"):
            data = json.loads(path.read_text())
            for bench in data["benchmarks"]:
                method = bench["name"].split("/")[0]
                if method in ("read", "pread"):
                    total = pread if method == "pread" else 5700
                    bench.update(instructions_per_request=total, user_instructions_per_request=50,
                                 kernel_instructions_per_request=total - 50)
            path.write_text(json.dumps(data))
        folders.append(folder)
    text = report_text(*folders, out=tmp_path)
    table = text.split("### Instructions per request on tmpfs (counted under TCG)")[1].split("\n### ")[0]
    pread_row = next(line for line in table.splitlines() if line.startswith("| pread/io:4096/"))
    read_row = next(line for line in table.splitlines() if line.startswith("| read/io:4096/"))
    assert "**5,600 / 6,160**" in pread_row and "**" not in read_row
    assert any("instructions per request (counted)" in line and "pread" in line
               for line in findings_of(text).splitlines())


def _with_functions(folder, pread_functions, rounds_without=()):
    """Counted instructions and a functions sidecar (as readpath_bench writes it under the
    readpath_icount plugin) for every round of a run folder's 4K read and pread cells."""
    import json
    for path in sorted((folder / "raw").glob("*-r*.json")):
        if path.name.endswith(results.SIDECARS):
            continue
        data = json.loads(path.read_text())
        cells = {}
        round_number = int(path.stem.rsplit("-r", 1)[1])
        for bench in data["benchmarks"]:
            method = bench["name"].split("/")[0]
            if method not in ("read", "pread") or "/io:4096/" not in bench["name"]:
                continue
            functions = dict(pread_functions if method == "pread" else READ_FUNCTIONS)
            if round_number in rounds_without:
                functions.pop("filemap_read", None)
            kernel = sum(functions.values())
            bench.update(instructions_per_request=kernel + 50, user_instructions_per_request=50,
                         kernel_instructions_per_request=kernel)
            requests = 4096   # a 16M file by 4K
            cells[bench["name"]] = {"requests": requests, "kernel_instructions": kernel * requests,
                                    "functions": {fn: n * requests for fn, n in functions.items()}}
        path.write_text(json.dumps(data))
        (path.parent / (path.name + results.FUNCTIONS_SIDECAR)).write_text(json.dumps({"cells": cells}))


READ_FUNCTIONS = {"rep_movs_alternative": 4101, "filemap_read": 207, "vfs_read": 147,
                  "myfs_read_iter [myfs]": 90}


def test_where_the_kernel_instructions_go_is_shown_and_explains_a_counted_change(tmp_path):
    """The functions sidecar: each run's cells with their largest functions; compared, the
    cells whose count changed get their functions side by side, the moved ones bold, and
    the finding names the functions that moved most."""
    from conftest import run_folder_with_rounds
    base = run_folder_with_rounds(tmp_path / "base", rounds=3)
    new = run_folder_with_rounds(tmp_path / "new", rounds=3)
    _with_functions(base, READ_FUNCTIONS)
    _with_functions(new, dict(READ_FUNCTIONS, filemap_read=207 + 560, filemap_get_pages=60))

    alone = report_text(base, out=tmp_path / "alone")
    table = alone.split("### Where the kernel instructions go on tmpfs (counted under TCG)")[1]
    row = next(line for line in table.splitlines() if line.startswith("| read/io:4096/"))
    assert "4,545" in row and "rep_movs_alternative 4,101; filemap_read 207; vfs_read 147" in row

    text = report_text(base, new, out=tmp_path / "both")
    side = text.split("### Where the kernel instructions go on tmpfs (counted under TCG)")[1].split("\n## ")[0]
    assert "`pread/io:4096/file:16777216/warm:1`" in side and "`read/io:4096/" not in side
    rows = {line.split("|")[1].strip(): line for line in side.splitlines() if line.startswith("| ")}
    assert "**207**" in rows["filemap_read"] and "**767**" in rows["filemap_read"]
    assert "**" not in rows["filemap_get_pages"]   # +60 of 4,545: within the A/A spread
    assert "**" not in rows["rep_movs_alternative"]
    finding = next(line for line in findings_of(text).splitlines()
                   if "instructions per request (counted)" in line and "pread" in line)
    assert "kernel functions filemap_read +560, filemap_get_pages +60" in finding


def test_a_function_missing_from_a_round_counts_zero_there(tmp_path):
    from conftest import run_folder_with_rounds
    folder = run_folder_with_rounds(tmp_path / "run", rounds=3)
    _with_functions(folder, READ_FUNCTIONS, rounds_without=(1, 2))
    run = results.load(folder)
    cell = next(b for b in run.benchmarks.values() if b.name.startswith("read/io:4096/"))
    functions = run.functions(cell)
    assert functions["filemap_read"] == 0            # the median of 0, 0, 207
    assert list(functions)[:2] == ["rep_movs_alternative", "vfs_read"]
    assert run.functions(next(b for b in run.benchmarks.values() if b.method == "mmap_copy")) == {}
