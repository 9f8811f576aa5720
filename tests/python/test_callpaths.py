"""myfs `paths` files: every distinct stack per hook with its calls (`hook NAME calls N`),
the rest counted in one `unrecorded` block, the old `hook NAME` still read; each stack named
by the way into the kernel it came by."""

import shutil

import pytest

from conftest import FIXTURES, readpath
from readpath_lib import callpaths
from readpath_lib.errors import UsageError

OLD = FIXTURES / "myfs-6.1.0-56-amd64.paths"
BLOCK_61 = FIXTURES / "block-6.1.0-56-amd64.paths"
BLOCK_612 = FIXTURES / "block-6.12.117+deb12-amd64.paths"


def test_every_distinct_stack_is_kept_in_order_with_its_calls():
    stacks = callpaths.load(BLOCK_61)["read_iter"]
    assert [s.calls for s in stacks] == [768, 272]
    assert stacks[0].frames[:2] == ("myfs_read_iter", "vfs_read")
    assert stacks[1].frames[:2] == ("myfs_read_iter", "io_read")


def test_the_unrecorded_rest_is_a_count_without_frames():
    rest = callpaths.load(BLOCK_612)["readahead"][-1]
    assert rest.unrecorded and rest.calls == 3 and rest.frames == ()
    assert rest.entry == callpaths.UNRECORDED


def test_the_old_header_is_read_with_calls_unknown():
    paths = callpaths.load(OLD)
    assert set(paths) == {"read_iter", "readahead", "mmap", "fault", "map_pages"}
    assert all(len(stacks) == 1 and stacks[0].calls is None for stacks in paths.values())
    assert paths["fault"][0].frames[0] == "myfs_fault"


@pytest.mark.parametrize("hook, index, entry", [
    ("read_iter", 0, "pread(2)"),
    ("read_iter", 1, "io_uring worker (io-wq)"),
    ("readahead", 1, "page fault"),
    ("bio_complete", 0, "pread(2)"),
])
def test_a_stack_is_named_by_its_way_into_the_kernel(hook, index, entry):
    assert callpaths.load(BLOCK_61)[hook][index].entry == entry


def test_a_softirq_on_the_way_out_of_a_fault_is_named_by_both():
    stack = callpaths.load(BLOCK_612)["bio_complete"][1]
    assert stack.entry == "page fault → interrupt → softirq"
    assert stack.way_in == "page fault"


def test_a_stack_through_no_known_entry_is_named_by_its_outermost_function():
    assert callpaths.entry_point(("myfs_x", "worker_fn", "kthread", "ret_from_fork")) \
        == "`worker_fn`"


def test_entry_points_sum_the_calls_of_their_stacks():
    text = "hook readahead calls 5\nmyfs_readahead\nread_pages\nfilemap_read\nksys_read\n\n" \
           "hook readahead calls 7\nmyfs_readahead\npage_cache_async_ra\nfilemap_read\n" \
           "ksys_read\n\n"
    calls, stacks = callpaths.entries(callpaths.parse(text)["readahead"])["read(2)"]
    assert calls == 12 and len(stacks) == 2


def test_same_stacks_in_another_order_are_the_same_paths():
    a = callpaths.load(BLOCK_61)
    b = {hook: list(reversed(stacks)) for hook, stacks in a.items()}
    assert callpaths.differing_hooks({"a": a, "b": b}) == []
    assert callpaths.differing_hooks({"a": a, "b": callpaths.load(BLOCK_612)}) == [
        "bio_complete", "read_iter", "readahead"]


def test_a_bad_header_is_one_clear_error():
    with pytest.raises(UsageError, match=r"line 1: 'hook read_iter calls many'"):
        callpaths.parse("hook read_iter calls many\nmyfs_read_iter\n\n")


def test_report_on_a_damaged_paths_file_exits_2_with_one_line(tmp_path):
    shutil.copy(FIXTURES / "block-6.1.0-56-amd64.json", tmp_path / "k.json")
    (tmp_path / "k.paths").write_text("hook read_iter calls 3 forgotten\nmyfs_read_iter\n")
    proc = readpath("report", tmp_path / "k.json", "--no-charts", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "k.paths, line 1" in proc.stderr


# Recorded by myfs itself (page-cache mode, synthetic, trace=once) in 6.1 and 6.12 guests:
# truncate -s 4M f; dd bs=64k (read(2)); POSIX_FADV_DONTNEED, then a Python mmap reading a
# byte per page; DONTNEED again, then fio --ioengine=io_uring --bs=64k --iodepth=8.
REAL_61 = FIXTURES / "real-pagecache-6.1.0-56-amd64.paths"
REAL_612 = FIXTURES / "real-pagecache-6.12.117+deb12-amd64.paths"


def calls_by_entry(path, hook):
    return {entry: calls for entry, (calls, _) in
            callpaths.entries(callpaths.load(path)[hook]).items()}


def test_real_readahead_is_reached_from_read_a_fault_and_io_uring_with_its_calls():
    assert calls_by_entry(REAL_61, "readahead") == {
        "read(2)": 32, "page fault": 32, "io_uring_enter(2)": 17}


def test_real_io_uring_reads_run_inline_on_6_1_and_in_io_wq_on_6_12():
    assert calls_by_entry(REAL_61, "read_iter") == {"read(2)": 65, "io_uring_enter(2)": 64}
    assert calls_by_entry(REAL_612, "read_iter") == {"read(2)": 65,
                                                     "io_uring worker (io-wq)": 64}
    assert callpaths.differing_hooks({"6.1": callpaths.load(REAL_61),
                                      "6.12": callpaths.load(REAL_612)}) == [
        "mmap", "read_iter", "readahead"]


def test_stacks_apart_only_in_offsets_are_one_path_with_their_calls_summed():
    # 6.12 kept two map_pages stacks (other call sites, the same functions): 65 and 33 calls.
    assert [s.calls for s in callpaths.load(REAL_612)["map_pages"]] == [65, 33]
    merged = callpaths.merged(callpaths.load(REAL_612)["map_pages"])
    assert len(merged) == 1 and merged[0].calls == 98


def test_cat_reads_by_sendfile():
    stack = callpaths.parse("hook read_iter calls 18\nmyfs_read_iter+0x6c/0x80 [myfs]\n"
                            "generic_file_splice_read+0xd7/0x1a0\ndo_sendfile+0x361/0x4e0\n"
                            "__x64_sys_sendfile64+0xaa/0xc0\ndo_syscall_64+0x5d/0xb0\n\n")
    assert stack["read_iter"][0].entry == "sendfile(2)"
