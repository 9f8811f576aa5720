"""Read-path features since 6.12 as myfs knobs and readpath methods, each proved by its
known effect on every test kernel. One `readpath compare-options default nowait=on
large_folios=on` per kernel (one guest) gives all of it:

- `nowait=on`: myfs files say FMODE_NOWAIT (and async buffered reads). io_uring then
  issues each read with IOCB_NOWAIT from io_uring_enter and completes it inline when the
  pages are cached; without it, 6.12 and 7.3 hand every read of a myfs file to an io-wq
  worker. myfs's recorded call paths show where every `read_iter` call came from, exactly:
  all through `io_wq_worker` without the knob, none with it. 6.1's io_uring takes every
  regular file as nowait-capable, so there both show none, and the test asserts that too.
  The reader's context switches fall to ~0; how many there were without the knob depends on
  timing (whether the worker finished before the reader slept: warm 4K at queue depth 1,
  56 per 256 requests on 6.12 and 14 on 7.3 in one run here), so that count is only
  asserted to drop.
- `large_folios=on`: the page cache reads myfs files in folios of several pages
  (`readahead_folios` below `readahead_pages`); without it, one page per folio.
- the cache state of every cell (`cache_pages` after the counted pass; cachestat where the
  kernel has it, 6.5 and later, mincore on 6.1).
- `pread_dontcache`, `uring_dontcache` (RWF_DONTCACHE, 6.14 and later; myfs says
  FOP_DONTCACHE): a cold pass leaves none of the file's pages in the page cache, where
  `pread` leaves all of them; the same pages were read in. On older kernels their cells are
  skipped, saying why.
"""

import subprocess

import pytest

from conftest import REPO
from readpath_lib import build, callpaths, guest_suite, results
from readpath_lib.vm import kernels

CONFIGS = ["default", "nowait=on", "large_folios=on"]
METHODS = "uring,pread,mmap_touch,pread_dontcache,uring_dontcache"


def has_dontcache(kernel):
    """RWF_DONTCACHE came in 6.14 (and myfs says FOP_DONTCACHE wherever the kernel has it)."""
    return kernels.version_key(kernel.release) >= kernels.version_key("6.14")


def punts_without_nowait(kernel):
    """Whether this kernel's io_uring sends reads of files without FMODE_NOWAIT to io-wq:
    measured on the test kernels (6.1: no; 6.12 and 7.3: yes)."""
    return kernels.version_key(kernel.release) >= kernels.version_key("6.12")


@pytest.fixture(scope="module")
def nowait_runs(kernel, tmp_path_factory):
    """{label: results.Run} of one compare-options run of default against nowait=on."""
    if not build.bench_binary().is_file():
        pytest.skip(f"{build.bench_binary()} is not built (readpath test builds it first)")
    out = tmp_path_factory.mktemp(f"nowait-{kernel.release}")
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "readpath"),
                           "compare-options", *CONFIGS, "--kernel", kernel.release,
                           "--profile", "tiny", "--rounds", "3", "--repetitions", "1",
                           "--methods", METHODS, "--no-build",
                           "--out", str(out)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stems = {label: f"myfs-{guest_suite.slug(label)}" for label in CONFIGS}
    runs = {label: results.load(results.round_files(out / "raw", stem), label=label)
            for label, stem in stems.items()}
    paths = {label: callpaths.load(out / "raw" / f"{stem}.paths") for label, stem in stems.items()}
    return runs, paths, (out / "report.md").read_text()


def _uring_reads(paths):
    """(read_iter calls issued by io_uring, those of them issued by an io-wq worker)."""
    stacks = [s for s in paths.get("read_iter", []) if "io_issue_sqe" in s.frames]
    assert stacks and not any(s.unrecorded for s in stacks), paths.get("read_iter")
    return (sum(s.calls for s in stacks),
            sum(s.calls for s in stacks if "io_wq_worker" in s.frames))


def _warm_uring(run):
    cells = [b for b in run.benchmarks.values()
             if b.method == "uring" and b.params.get("warm") == 1 and b.params.get("io") == 4096
             and b.params.get("qd") == 1]
    assert cells, f"no warm 4 KiB uring cell at queue depth 1 in {run.label}"
    return cells


def test_nowait_issues_io_uring_reads_inline_instead_of_from_io_wq(kernel, nowait_runs):
    _, paths, _ = nowait_runs
    calls, by_worker = _uring_reads(paths["default"])
    if punts_without_nowait(kernel):
        assert by_worker == calls, (kernel.release, by_worker, calls)
    else:
        assert by_worker == 0, (kernel.release, by_worker, calls)
    calls, by_worker = _uring_reads(paths["nowait=on"])
    assert by_worker == 0, (kernel.release, by_worker, calls)


def test_nowait_leaves_the_reader_without_context_switches(kernel, nowait_runs):
    runs, _, _ = nowait_runs
    for default, nowait in zip(_warm_uring(runs["default"]), _warm_uring(runs["nowait=on"])):
        requests = default.params["file"] // 4096
        off, on = default.median("ctxsw"), nowait.median("ctxsw")
        assert on <= 0.02 * requests, (kernel.release, on, requests)
        if punts_without_nowait(kernel):
            assert off > on, (kernel.release, off, on, requests)
        else:
            assert off <= 0.02 * requests, (kernel.release, off, requests)
        # The same reads reach myfs either way.
        assert default.median("myfs_read_iter") == nowait.median("myfs_read_iter") == requests


def test_nowait_shows_in_the_mount_options(nowait_runs):
    runs, _, report = nowait_runs
    assert "nowait=on" in runs["nowait=on"].context("fs_options")
    assert "nowait" not in runs["default"].context("fs_options")
    assert "nowait=on" in report


def _cells(run, method, warm):
    cells = [b for b in run.benchmarks.values() if b.method == method and b.params.get("warm") == warm]
    assert cells, f"no {method} warm:{warm} cell in {run.label}"
    return cells


def test_large_folios_read_several_pages_per_folio(kernel, nowait_runs):
    runs, _, _ = nowait_runs
    for method in ("pread", "mmap_touch"):
        for default, large in zip(_cells(runs["default"], method, 0), _cells(runs["large_folios=on"], method, 0)):
            pages = default.params["file"] // 4096
            assert default.median("myfs_readahead_pages") == large.median("myfs_readahead_pages") == pages
            assert default.median("myfs_readahead_folios") == pages, (kernel.release, default.name)
            folios = large.median("myfs_readahead_folios")
            assert folios <= pages / 4, (kernel.release, large.name, folios)
            print(f"{kernel.release} {large.name}: {pages} pages in {folios:g} folios")


def test_every_cell_records_what_the_page_cache_holds(kernel, nowait_runs):
    runs, _, _ = nowait_runs
    run = runs["default"]
    source = run.context("cache_state_via")
    expected = "cachestat" if kernels.version_key(kernel.release) >= kernels.version_key("6.5") else "mincore"
    assert source == expected, (kernel.release, source)
    for warm in (0, 1):
        for cell in _cells(run, "pread", warm):
            assert cell.median("cache_pages") == cell.params["file"] // 4096, cell.name
            assert bool(cell.values("cache_evicted")) == (source == "cachestat"), cell.name


def test_uncached_reads_leave_none_of_their_pages_in_the_page_cache(kernel, nowait_runs):
    if not has_dontcache(kernel):
        pytest.skip(f"{kernel.release} has no RWF_DONTCACHE (6.14 and later): its cells skip, "
                    "as test_uncached_read_cells_say_why_the_kernel_refuses_them checks")
    runs, _, _ = nowait_runs
    run = runs["default"]
    pread_cold = _cells(run, "pread", 0)
    for method in ("pread_dontcache", "uring_dontcache"):
        for cell in _cells(run, method, 0):
            assert not cell.skipped, cell.skipped
            assert cell.median("cache_pages") == 0, (cell.name, cell.median("cache_pages"))
            # The same pages were read in as by pread.
            assert cell.median("myfs_readahead_pages") == pread_cold[0].median("myfs_readahead_pages")
        for cell in _cells(run, method, 1):  # pages found in the page cache stay there
            assert cell.median("cache_pages") == cell.params["file"] // 4096, cell.name
    assert all(c.median("cache_pages") == c.params["file"] // 4096 for c in pread_cold)


def test_uncached_read_cells_say_why_the_kernel_refuses_them(kernel, nowait_runs):
    if has_dontcache(kernel):
        pytest.skip(f"{kernel.release} has RWF_DONTCACHE: its cells run "
                    "(test_uncached_reads_leave_none_of_their_pages_in_the_page_cache)")
    runs, _, _ = nowait_runs
    for method in ("pread_dontcache", "uring_dontcache"):
        for warm in (0, 1):
            for cell in _cells(runs["default"], method, warm):
                assert "need Linux 6.14 or later" in cell.skipped, (cell.name, cell.skipped)
