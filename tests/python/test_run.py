"""`readpath run`: planning, an end-to-end tiny run, resume, and Ctrl-C keeping chunks."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import READPATH, needs_bench, readpath
from readpath_lib import engine, guest_suite, progress as progress_module, results
from readpath_lib import runner as run_module


def test_chunks_group_cells_by_file_size():
    cells = ["read/io:4096/file:1048576/warm:1/manual_time/threads:1",
             "read/io:65536/file:1048576/warm:1/manual_time/threads:1",
             "read/io:4096/file:16777216/warm:1/manual_time/threads:1",
             "uring/io:4096/file:1048576/warm:1/qd:1/manual_time/threads:1"]
    chunks = run_module.plan_chunks(cells)
    assert [c["id"] for c in chunks] == ["file1048576", "file16777216"]
    assert chunks[0]["cells"] == [cells[0], cells[1], cells[3]]


def test_cold_cells_get_chunks_of_their_own_when_they_read_elsewhere():
    cells = ["read/io:4096/file:1048576/warm:1/manual_time/threads:1",
             "read/io:4096/file:1048576/warm:0/manual_time/threads:1",
             "pread_direct/io:4096/file:1048576/warm:0/manual_time/threads:1"]
    chunks = run_module.plan_chunks(cells, cold_apart=True)
    assert [(c["id"], c.get("cold", False)) for c in chunks] == [
        ("file1048576", False), ("file1048576-cold", True)]
    plan = {"native": {"dir": None, "cold_dir": "/var/tmp/readpath-cold-x"}}
    assert run_module.dir_args(plan, None, chunks[0]) == []
    assert run_module.dir_args(plan, None, chunks[1]) == ["--dir", "/var/tmp/readpath-cold-x"]


def test_filter_matches_exactly_the_chunk_cells():
    import re
    cells = ["read/io:4096/file:1048576/warm:1/manual_time/threads:1"]
    pattern = re.compile(engine.cell_filter(cells))
    assert pattern.match(cells[0])
    assert not pattern.match("read/io:4096/file:1048576/warm:1/manual_time/threads:10")
    assert not pattern.match("pread/io:4096/file:1048576/warm:1/manual_time/threads:1")


@needs_bench
def test_tiny_run_writes_raw_json_environment_charts_and_report(tmp_path):
    out = tmp_path / "run"
    proc = readpath("run", "--profile", "tiny", "--no-build", "--no-vm", "--out", out)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((out / "plan.json").read_text())
    rounds = plan["settings"]["rounds"]
    assert (rounds, plan["settings"]["repetitions"]) == (3, 1)   # the tiny profile's
    reps = rounds * sum(len(c["cells"]) for c in plan["chunks"])
    assert reps >= 96 and f"repetition {reps} of {reps}" in proc.stderr
    assert plan["status"] == "complete"
    raw = sorted(p.name for p in (out / "raw").glob("*.json"))
    chunks = sorted(f"{c['id']}-r{r}.json" for c in plan["chunks"] for r in range(1, rounds + 1))
    # the tiny profile runs a latency pass: each result keeps its histograms beside it
    assert raw == sorted(chunks + [f"{name}.latency.json" for name in chunks])
    env = json.loads((out / "environment.json").read_text())
    assert env["kernel"] == os.uname().release
    report = (out / "report.md").read_text()
    assert report.startswith("# readpath report") and "## Findings" in report
    assert "## Latency per request" in report and "timer overhead" in report
    # Named for the filesystem the files were on: warm cells on /dev/shm's tmpfs on most
    # machines (another where readpath_bench had to choose another directory, and said so),
    # cold ones on a disk filesystem where the run found one, its page cache emptied.
    run = results.load(out)
    warm = next(b for b in run.benchmarks.values() if b.params.get("warm") == 1).target
    fresh = run.context("dir", target=warm).removesuffix(" (fresh)")
    assert warm == run_module.fs_type_of(fresh.rsplit("/", 1)[0]), fresh
    cold = {b.target for b in run.benchmarks.values() if b.params.get("warm") == 0}
    if plan["native"]["cold_dir"]:
        assert cold == {run_module.fs_type_of(plan["native"]["cold_dir"].rsplit("/", 1)[0])}
        assert not [b for b in run.benchmarks.values() if b.skipped], "every cell ran"
        assert "cold cells on " in proc.stderr
        assert not os.path.exists(plan["native"]["cold_dir"]), "removed once the run completed"
    else:
        assert "cold cells skip" in proc.stderr
    native = warm
    assert (out / "charts" / f"latency-{native}.png").is_file()
    assert (out / "charts" / f"throughput-{native}.png").is_file()
    assert (out / "charts" / f"throughput-{native}.svg").is_file()


@needs_bench
def test_resume_runs_only_the_missing_chunks(tmp_path):
    out = tmp_path / "run"
    assert readpath("run", "--profile", "tiny", "--rounds", "2", "--no-build", "--no-vm",
                    "--out", out).returncode == 0
    kept = out / "raw" / "file1048576-r1.json"
    redo = out / "raw" / "file1048576-r2.json"
    kept_mtime = kept.stat().st_mtime_ns
    redo.unlink()
    plan = json.loads((out / "plan.json").read_text())
    plan["status"] = "running"
    (out / "plan.json").write_text(json.dumps(plan))
    proc = readpath("run", "--resume", "--no-build", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert redo.is_file()
    assert kept.stat().st_mtime_ns == kept_mtime


@needs_bench
def test_interrupt_keeps_finished_chunks_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    # Started in the background by a non-interactive shell (nohup, some CI runners), this
    # test inherits SIGINT ignored, and so would the child: give it Ctrl-C's default back.
    proc = subprocess.Popen(["/usr/bin/python3", str(READPATH), "run", "--quick", "--no-build",
                             "--no-vm", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list((out / "raw").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert list((out / "raw").glob("*.json"))
    assert not list((out / "raw").glob("*.partial"))
    assert json.loads((out / "plan.json").read_text())["status"] == "running"


class _InterruptAt:
    """A progress line whose n-th advance is Ctrl-C."""

    def __init__(self, n):
        self.n, self.what = n, ""

    def advance(self, count=1, cost=1.0):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def _fake_bench(tmp_path, body):
    bench = tmp_path / "bench"
    bench.write_text("#!/bin/sh\nfor a; do case $a in --benchmark_out=*) out=${a#*=};; esac; done\n"
                     + body)
    bench.chmod(0o755)
    return bench


@pytest.mark.parametrize("when", [1, 2], ids=["while-running", "after-it-ended"])
def test_ctrl_c_at_any_point_of_a_chunk_leaves_no_partial_file(tmp_path, when):
    # Ctrl-C while readpath_bench prints its repetitions, and just after it ended with its
    # JSON written but before the JSON is moved into place: the .partial goes either way.
    name = "pread/io:4096/file:1048576/warm:1"
    bench = _fake_bench(tmp_path, f'echo "{{}}" > "$out"\necho "{name} 1 ns"\n')
    raw = tmp_path / "raw"
    raw.mkdir()
    chunk = {"id": "file1048576", "cells": [name]}
    with pytest.raises(KeyboardInterrupt):
        run_module.run_chunk(bench, chunk, 1, "tiny", {"repetitions": 1, "rounds": 1}, raw,
                             _InterruptAt(when), [])
    assert sorted(p.name for p in raw.iterdir()) == ["file1048576-r1.log"]


def test_guest_progress_follows_the_console_logs_as_they_grow(tmp_path):
    log = tmp_path / "0-r1.log"
    names = {"read/io:4096/file:1048576/warm:1/manual_time/threads:1",
             "read/io:4096/file:1048576/warm:0/manual_time/threads:1"}
    progress = progress_module.Progress(len(names))
    watcher = guest_suite._Watcher(tmp_path, names, 2, progress, 1)
    watcher.start()
    try:
        first = sorted(names)[0]
        log.write_text(f"{first}   1 ns\n{first}_mean  1 ns\n")
        time.sleep(2.5)
        assert progress.done == 0          # one repetition of two
        log.write_text(f"{first}   1 ns\n{first}   1 ns\n")
        deadline = time.monotonic() + 10
        while progress.done < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert progress.done == 1
    finally:
        watcher.stop()


def test_rounds_alternate_direction_so_drift_falls_on_every_chunk_alike():
    plan = {"settings": {"rounds": 3}, "chunks": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    order = [(r, c["id"]) for r, c in run_module.work_list(plan)]
    assert order == [(1, "a"), (1, "b"), (1, "c"), (2, "c"), (2, "b"), (2, "a"),
                     (3, "a"), (3, "b"), (3, "c")]


def test_guest_configurations_are_counterbalanced():
    configs = [guest_suite.Config("A"), guest_suite.Config("B", "fault_around=off")]
    assert guest_suite.schedule(configs, 4) == [(1, 0), (1, 1), (2, 1), (2, 0),
                                                (3, 0), (3, 1), (4, 1), (4, 0)]
    assert configs[1].mount_options == "synthetic,trace=once,fault_around=off"


def test_eta_weighs_cells_on_large_files_by_their_size(capsys):
    small = "read/io:4096/file:16777216/warm:1/manual_time/threads:1"
    large = "read/io:4096/file:1073741824/warm:1/manual_time/threads:1"
    assert run_module.cell_cost(small) == 1
    assert run_module.cell_cost(large) == 4
    # Two cells, the small one done after 20 s: the 1 GiB cell left should take 80 s.
    progress = progress_module.Progress(2, cost_total=5, cost_done=0)
    progress.start -= 20
    progress.tty = False
    progress.advance(cost=run_module.cell_cost(small))
    progress.show(force=True)
    line = capsys.readouterr().err.splitlines()[-1]
    assert "cell 1 of 2" in line and "ETA 1:20" in line


def test_the_eta_waits_for_the_start_up_to_pass(capsys):
    # 1 of 100 units after 25 s, the first one carrying the start-up: no ETA of 40 minutes.
    progress = progress_module.Progress(100)
    progress.start -= 25
    progress.tty = False
    progress.advance()
    progress.show(force=True)
    assert "ETA …" in capsys.readouterr().err.splitlines()[-1]
    progress.advance(9)   # a tenth done: now it may say
    progress.show(force=True)
    assert "ETA …" not in capsys.readouterr().err.splitlines()[-1]


def test_guest_progress_takes_the_guests_own_cell_list(tmp_path):
    """The host lists the cells of a TCG guest; the guest writes the list it really runs
    (the accelerator decides it) and the watcher counts against that one."""
    host_guess = {"read/io:4096/file:1048576/warm:1/manual_time/threads:1"}
    guest = ["read/io:4096/file:16777216/warm:1/manual_time/threads:1",
             "read/io:4096/file:16777216/warm:0/manual_time/threads:1"]
    progress = progress_module.Progress(len(host_guess))
    watcher = guest_suite._Watcher(tmp_path, host_guess, 1, progress, 2)
    (tmp_path / "cells").write_text("\n".join(guest) + "\n")
    (tmp_path / "0-r1.log").write_text(f"{guest[0]}   1 ns\n")
    watcher.guest_list()
    assert progress.total == 4            # two cells, two runs
    assert watcher.count() == 1


def test_all_skipped_run_fails_and_says_why(tmp_path):
    """A directory where no cell can run measures nothing: exit 1 and the reason, not a
    report of nothing."""
    if not os.access("/proc", os.W_OK):
        import pytest
        pytest.skip("needs root: /proc is the directory no benchmark file can be created in")
    proc = readpath("run", "--profile", "tiny", "--dir", "/proc", "--no-vm", "--no-build",
                    "--out", tmp_path / "run")
    assert proc.returncode == 1, proc.stderr
    assert "every cell was skipped" in proc.stderr and "pick another --dir" in proc.stderr
    assert "wrote" not in proc.stderr


def test_a_user_who_is_not_root_on_a_kernel_that_loads_modules_is_told(monkeypatch):
    import pytest
    from readpath_lib.errors import UsageError
    monkeypatch.setattr(run_module, "kernel_loads_modules", lambda: True)
    monkeypatch.setattr(run_module.os, "geteuid", lambda: 1000)
    with pytest.raises(UsageError, match=r"needs root: rerun as root .* --dir DIR --no-vm"):
        run_module.host_loads_myfs()
    monkeypatch.setattr(run_module, "kernel_loads_modules", lambda: False)
    assert run_module.host_loads_myfs() is False   # no module support: another branch, no error


def test_missing_headers_name_the_package_and_load_nothing(monkeypatch, tmp_path):
    """myfs for a running kernel whose headers are not installed: one line naming the
    Debian package, and nothing loaded (insmod never runs)."""
    import pytest
    from readpath_lib.errors import RunError
    release = "9.9.9-readpath-test-amd64"
    monkeypatch.setattr(run_module, "host_kernel", lambda: release)
    monkeypatch.setenv("READPATH_CACHE_DIR", str(tmp_path))
    ran = []
    monkeypatch.setattr(run_module, "_run", lambda cmd: ran.append(cmd) or (0, ""))
    monkeypatch.setattr(run_module, "myfs_mounts", lambda: [])
    monkeypatch.setattr(run_module, "_modules", lambda: set())
    with pytest.raises(RunError, match=f"install linux-headers-{release}"):
        with run_module.HostMyfs(log=lambda msg: None):
            pass
    assert ran == []


def test_a_refused_module_says_why_and_what_to_do():
    message = run_module._refused("could not insert module myfs.ko: Key was rejected by service")
    assert message.startswith("the kernel refused to load myfs (could not insert module")
    assert "sign myfs.ko" in message and "--dir DIR" in message


def test_guest_commands_default_to_the_quick_profile_and_take_another():
    import argparse
    from readpath_lib.commands import compare_kernels, compare_options
    for module, positional in ((compare_kernels, ["6.1", "6.12"]), (compare_options, ["x"])):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert parser.parse_args(positional).profile == "quick"
        assert parser.parse_args([*positional, "--quick"]).profile == "quick"
        assert parser.parse_args([*positional, "--profile", "tiny"]).profile == "tiny"
