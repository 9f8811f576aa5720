"""Run the benchmark suite and write a results folder: raw JSON (never edited), an
environment file, charts (PNG and SVG) and report.md.

Where it runs: on a host that can load modules, on myfs mounted on the host. Otherwise
(this project's usual case) native timings on /dev/shm (or --dir) on the host, plus myfs
hook counts from the same suite in a QEMU guest on a Debian kernel; each is labelled by
its filesystem, and guest timings are marked emulated when they came from TCG.

The suite is cut into chunks (one readpath_bench invocation per method and file size);
each finished chunk is saved as raw/<chunk>.json at once, so Ctrl-C keeps what finished
and `--resume` runs only what is missing.

Profiles (cells from readpath_bench; repetitions chosen here so compare can test them):
  tiny     seconds: the CI smoke run
  --quick  about 2-3 minutes
  default  about 13 minutes on an idle 2-core host (1 GiB files, 8 repetitions)
  --full   the whole matrix (hours)

Examples:
  readpath run --quick
  readpath run --dir /mnt/nvme/scratch --no-vm
  readpath run --resume                      # continue the newest unfinished run
"""

import datetime
import json
import os
import platform
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import build, packages, paths
from .errors import RunError, UsageError

HELP = "run the suite (native + myfs hook counts in a VM) and write results/<date>-<kernel>-<host>/"

# Per profile: repetitions and the per-repetition minimum time (seconds) given to Google
# Benchmark. More, shorter repetitions give Mann–Whitney U the power to see a change after
# Holm correction over every cell: 8 vs 8 repetitions reach p = 1.6e-4, enough for the
# ~300 timed cells of the default profile; 6 vs 6 (p = 2.2e-3) for quick's ~50.
PROFILES = {
    "tiny": {"repetitions": 3, "min_time": None},
    "quick": {"repetitions": 6, "min_time": 0.05},
    "default": {"repetitions": 8, "min_time": 0.05},
    "full": {"repetitions": 10, "min_time": 0.25},
}
# The myfs guest counts hooks (exact under TCG), so it runs a small suite once. TCG
# reads page cache at ~200 MB/s: the quick suite on 16 MiB files takes 2-4 minutes there,
# its 256 MiB files would take half an hour more.
VM_SUITES = {"tiny": ["--profile", "tiny"],
             "quick": ["--profile", "quick", "--file-sizes", "16M"]}
VM_SUITE_FOR_RUN = {"tiny": "tiny", "quick": "tiny", "default": "quick", "full": "quick"}
VM_MOUNT = "/mnt/myfs"
VM_OPTIONS = "synthetic,trace=once"
DEFAULT_VM_KERNEL = "6.1"   # Debian 12's own kernel series


def add_arguments(parser):
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="the quick profile: about 3 minutes")
    size.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="the whole matrix: every method, size, depth and thread count")
    size.add_argument("--profile", choices=sorted(PROFILES), dest="profile",
                      help="pick a profile by name (tiny is the CI smoke run); default: default")
    parser.add_argument("--dir", metavar="DIR",
                        help="directory under test for native timings (default: a fresh "
                             "directory under /dev/shm)")
    parser.add_argument("--kernel", metavar="K",
                        help=f"kernel for the myfs guest run (default {DEFAULT_VM_KERNEL}, "
                             "Debian's; also 6.12 or a release such as 6.12.117+deb12-amd64)")
    parser.add_argument("--no-vm", action="store_true",
                        help="skip the myfs hook counts in a guest (native timings only)")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default: results/<date>-<kernel>-<host>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run (--out, or the newest unfinished one)")
    parser.add_argument("--repetitions", type=int, metavar="N",
                        help="repetitions per cell (default: the profile's; compare needs ≥ 3)")
    parser.add_argument("--no-build", action="store_true",
                        help="use the readpath_bench already built instead of building first")


# ---------------------------------------------------------------- planning

def list_cells(bench, profile, extra=()):
    return _list([str(bench), "--profile", profile, *extra])


def _list(cmd):
    cmd = [*cmd, "--benchmark_list_tests"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 2:
        raise UsageError(f"readpath_bench refused the options: {_last_line(proc.stderr)}")
    if proc.returncode != 0:
        raise RunError(f"`{shlex.join(cmd)}` failed: {_last_line(proc.stderr)}")
    cells = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if not cells:
        raise RunError(f"readpath_bench lists no cells for `{shlex.join(cmd[:-1])}`")
    return cells


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def plan_chunks(cells):
    """Group cells into chunks of one method and one file size, in listing order."""
    chunks = {}
    for cell in cells:
        parts = cell.split("/")
        file = next((p.split(":", 1)[1] for p in parts if p.startswith("file:")), "any")
        chunk_id = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{parts[0]}-file{file}")
        chunks.setdefault(chunk_id, []).append(cell)
    return [{"id": cid, "cells": names} for cid, names in chunks.items()]


def cell_filter(cells):
    """An anchored alternation of the exact names, valid for both std::regex and POSIX ERE."""
    return "^(" + "|".join(re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", c) for c in cells) + ")$"


# ---------------------------------------------------------------- progress

def cell_cost(name):
    """A cell's expected time relative to a small-file cell. Below ~256 MiB a repetition
    lasts the minimum time; past it one pass over the file lasts longer, in proportion
    (measured here: 1 GiB cells take 4.7 times as long as the 1-256 MiB ones)."""
    match = re.search(r"/file:(\d+)", name)
    return max(int(match.group(1)) if match else 0, COST_UNIT_BYTES) / COST_UNIT_BYTES


COST_UNIT_BYTES = 256 << 20


class Progress:
    """`cell n of N, elapsed, ETA` on one line (rewritten on a terminal, periodic otherwise).
    The ETA weighs cells by their expected cost (`cell_cost`) when given their names."""

    def __init__(self, total, done=0, cost_total=None, cost_done=None):
        self.total, self.done, self.start_done = total, done, done
        self.cost_total = total if cost_total is None else cost_total
        self.cost_done = done if cost_done is None else cost_done
        self.start_cost = self.cost_done
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0
        self.what = ""

    def advance(self, cells=1, what=None, cost=None):
        self.done = min(self.total, self.done + cells)
        self.cost_done = min(self.cost_total, self.cost_done + (cells if cost is None else cost))
        if what:
            self.what = what
        self.show()

    def show(self, force=False):
        now = time.monotonic()
        if not self.tty and not force and now - self.last_print < 10:
            return
        self.last_print = now
        self.shown = self.done
        elapsed = now - self.start
        ran = self.cost_done - self.start_cost
        eta = "?" if ran <= 0 else _clock(elapsed / ran * (self.cost_total - self.cost_done))
        line = (f"cell {self.done} of {self.total}  elapsed {_clock(elapsed)}  ETA {eta}"
                f"  {self.what}")
        if self.tty:
            print("\r" + line[:150].ljust(150), end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def finish(self):
        if self.tty:
            print(file=sys.stderr)
        elif getattr(self, "shown", None) != self.done:
            self.show(force=True)


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


# ---------------------------------------------------------------- running chunks

def run_chunk(bench, chunk, profile, settings, raw, progress, dir_args):
    """Run one chunk; its JSON appears as raw/<id>.json only when it completed."""
    final = raw / f"{chunk['id']}.json"
    partial = raw / f"{chunk['id']}.json.partial"
    log = raw / f"{chunk['id']}.log"
    cmd = [str(bench), "--profile", profile, *dir_args,
           f"--benchmark_filter={cell_filter(chunk['cells'])}",
           f"--benchmark_out={partial}", "--benchmark_out_format=json",
           f"--benchmark_repetitions={settings['repetitions']}", "--benchmark_color=false"]
    if settings.get("min_time"):
        cmd.append(f"--benchmark_min_time={settings['min_time']}")
    names = set(chunk["cells"])
    reps = settings["repetitions"]
    seen = {}
    progress.what = chunk["id"]
    with open(log, "w") as log_file:
        log_file.write("$ " + shlex.join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        try:
            for line in proc.stdout:
                log_file.write(line)
                name = line.split(" ", 1)[0]
                if name in names:
                    seen[name] = seen.get(name, 0) + 1
                    if seen[name] == reps:   # all repetitions of the cell are done
                        progress.advance(cost=cell_cost(name))
            status = proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            partial.unlink(missing_ok=True)
            raise
    # Cells that ran fewer lines than repetitions (skipped ones print once per try) count now.
    unfinished = [n for n in names if seen.get(n, 0) < reps]
    progress.advance(len(unfinished), cost=sum(map(cell_cost, unfinished)))
    if status != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise RunError(f"readpath_bench failed on chunk {chunk['id']} (exit {status}): {tail[0]}; "
                       f"full output in {log}; `readpath run --resume` retries from this chunk")
    partial.rename(final)


# ---------------------------------------------------------------- the results folder

def _host_kernel():
    return platform.release()


def new_folder(out):
    if out:
        return Path(out)
    base = f"{datetime.date.today().isoformat()}-{_host_kernel()}-{socket.gethostname()}"
    folder = paths.results_dir() / base
    n = 2
    while folder.exists():
        folder = paths.results_dir() / f"{base}-{n}"
        n += 1
    return folder


def find_resumable(out):
    if out:
        folder = Path(out)
        if not (folder / "plan.json").is_file():
            raise UsageError(f"{folder} holds no run to resume (no plan.json); "
                             "drop --resume to start one there")
        return folder
    candidates = []
    for plan in paths.results_dir().glob("*/plan.json"):
        try:
            state = json.loads(plan.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if state.get("status") != "complete":
            candidates.append(plan.parent)
    if not candidates:
        raise UsageError(f"no unfinished run under {paths.results_dir()}; "
                         "start one with `readpath run`")
    return max(candidates, key=lambda p: (p / "plan.json").stat().st_mtime)


def _write_json(path, data):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.rename(path)


def environment(bench):
    """What the host looked like; readpath_bench's JSON context has the per-run details."""
    def read(path):
        try:
            return Path(path).read_text().strip()
        except OSError:
            return None
    commit = subprocess.run(["git", "-C", str(paths.REPO), "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(paths.REPO), "status", "--porcelain", "--", "src",
                            "bench", "kmod"], capture_output=True, text=True).stdout.strip()
    meminfo = read("/proc/meminfo") or ""
    total = re.search(r"MemTotal:\s+(\d+)", meminfo)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "kernel": _host_kernel(),
        "cpu_count": os.cpu_count(),
        "mem_total_kib": int(total.group(1)) if total else None,
        "os": (re.search(r'PRETTY_NAME="([^"]+)"', read("/etc/os-release") or "") or [None, None])[1],
        "python": platform.python_version(),
        "readpath_commit": commit + ("-dirty" if dirty else ""),
        "readpath_bench": str(bench),
        "can_load_modules": can_load_modules(),
        "thp": read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "command": shlex.join(["readpath", *sys.argv[1:]]),
    }


def can_load_modules():
    return Path("/proc/modules").exists() and os.geteuid() == 0


# ---------------------------------------------------------------- myfs targets

def myfs_in_vm(bench, kernel, suite, folder, timeout, repetitions=1):
    """Run a suite on myfs in a guest of `kernel` (a spec or vm Kernel); leaves
    raw/myfs-<release>.json, .paths (call path per hook) and .log; returns (release, accel)."""
    from . import vm
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    scratch = folder / "vm-out"
    if scratch.is_dir():   # what an interrupted attempt left
        for leftover in scratch.iterdir():
            leftover.unlink()
    cells = _list([str(bench), *VM_SUITES[suite]])
    script = "\n".join([
        "set -e",
        f"{shlex.quote(str(bench))} --dir {VM_MOUNT} {shlex.join(VM_SUITES[suite])} "
        f"--benchmark_repetitions={repetitions} --benchmark_out=\"$READPATH_OUT/myfs.json\" "
        "--benchmark_out_format=json --benchmark_color=false > \"$READPATH_OUT/myfs.log\" 2>&1"
        " || { tail -n 5 \"$READPATH_OUT/myfs.log\"; exit 1; }",
        "cat /sys/fs/myfs/*/paths > \"$READPATH_OUT/paths.txt\"",
        "uname -r > \"$READPATH_OUT/release\"",
    ])
    progress = Progress(len(cells))
    progress.what = f"myfs in a {_name(kernel)} guest"
    watcher = _GuestWatcher(scratch / "myfs.log", set(cells), repetitions, progress)
    watcher.start()
    try:
        result = vm.run_in_vm(kernel, ["sh", "-c", script], myfs=VM_MOUNT,
                              myfs_opts=VM_OPTIONS, out=scratch, timeout=timeout, echo=False)
    finally:
        watcher.stop()
        progress.finish()
    if result.returncode != 0:
        raise RunError(f"the myfs suite failed in the {_name(kernel)} guest (exit {result.returncode}): "
                       f"{_last_line(result.output or '')}; see {scratch}/myfs.log")
    try:
        release = (scratch / "release").read_text().strip()
    except OSError:
        raise RunError(f"the {_name(kernel)} guest finished but left no results in {scratch}")
    (scratch / "myfs.json").rename(raw / f"myfs-{release}.json")
    (scratch / "paths.txt").rename(raw / f"myfs-{release}.paths")
    (scratch / "myfs.log").rename(raw / f"myfs-{release}.log")
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()
    return release, result.accel


class _GuestWatcher(threading.Thread):
    """Follows the guest's console log, which reaches the host as it is written, and
    moves the progress line as cells finish."""

    def __init__(self, log, names, repetitions, progress):
        super().__init__(daemon=True)
        self.log, self.names, self.reps, self.progress = log, names, repetitions, progress
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(2):
            try:
                lines = self.log.read_text(errors="replace").splitlines()
            except OSError:
                continue
            seen = {}
            for line in lines:
                name = line.split(" ", 1)[0]
                if name in self.names:
                    seen[name] = seen.get(name, 0) + 1
            done = sum(1 for n in seen.values() if n >= self.reps)
            if done > self.progress.done:
                self.progress.advance(done - self.progress.done)

    def stop(self):
        self.halt.set()
        self.join()


class HostMyfs:
    """myfs built for the running kernel, loaded and mounted for the run, removed after."""

    def __init__(self):
        self.mount = Path("/mnt/readpath-myfs")
        self.loaded = self.mounted = False

    def __enter__(self):
        from .vm import kernels
        release = _host_kernel()
        kernel = kernels.Kernel(release=release, image=Path(f"/boot/vmlinuz-{release}"),
                                headers=Path(f"/lib/modules/{release}/build"),
                                modules=Path(f"/lib/modules/{release}"),
                                debian=Path(f"/boot/vmlinuz-{release}").is_file()
                                and release.endswith("-amd64"))
        try:
            ko = kernels.build_myfs(kernel, lambda msg: print(msg, file=sys.stderr))
        except (UsageError, RunError) as err:
            raise RunError(f"cannot build myfs for the host kernel {release} "
                           f"({str(err).splitlines()[0]}); rerun with --dir DIR to time "
                           "another filesystem instead") from None
        self._run(["insmod", str(ko)], "load myfs")
        self.loaded = True
        self.mount.mkdir(parents=True, exist_ok=True)
        self._run(["mount", "-t", "myfs", "-o", VM_OPTIONS, "none", str(self.mount)],
                  "mount myfs")
        self.mounted = True
        return self.mount

    def __exit__(self, *exc):
        if self.mounted:
            subprocess.run(["umount", str(self.mount)])
        if self.loaded:
            subprocess.run(["rmmod", "myfs"])

    @staticmethod
    def _run(cmd, what):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RunError(f"could not {what} on the host: {_last_line(proc.stderr)}; "
                           "rerun with --dir DIR to time another filesystem instead")


# ---------------------------------------------------------------- the command

def _terminate(signum, frame):
    raise KeyboardInterrupt


def _check_args(args):
    if args.dir is not None:
        d = Path(args.dir)
        if not d.is_dir():
            raise UsageError(f"--dir {args.dir} is not a directory; create it or pick another")
        if not os.access(d, os.W_OK):
            raise UsageError(f"--dir {args.dir} is not writable")
    if args.kernel and args.no_vm:
        raise UsageError("--kernel picks the kernel of the myfs guest; it cannot go with --no-vm")
    if args.repetitions is not None and args.repetitions < 1:
        raise UsageError("--repetitions must be at least 1 (3 or more for compare's p-values)")


def run(args):
    _check_args(args)
    signal.signal(signal.SIGTERM, _terminate)
    if not args.no_build:
        packages.ensure(packages.PYTHON, "charts and reports")
    bench = build.bench(no_build=args.no_build)

    if args.resume:
        folder = find_resumable(args.out)
        plan = json.loads((folder / "plan.json").read_text())
        if args.profile and args.profile != plan["profile"]:
            raise UsageError(f"{folder} was started with the {plan['profile']} profile; "
                             f"resume it without --{args.profile} or start a new run")
        print(f"readpath run: resuming {folder}", file=sys.stderr)
    else:
        folder = new_folder(args.out)
        if (folder / "plan.json").exists():
            raise UsageError(f"{folder} already holds a run; use --resume to continue it "
                             "or --out for a new folder")
        profile = args.profile or "default"
        settings = dict(PROFILES[profile])
        if args.repetitions:
            settings["repetitions"] = args.repetitions
        host_myfs = args.dir is None and can_load_modules()
        if not (args.no_vm or host_myfs):
            from . import vm   # an unknown or uninstallable kernel fails now, not after an hour
            packages.ensure(packages.VM, "the myfs guest run")
            vm.resolve_kernel(args.kernel or DEFAULT_VM_KERNEL)
        plan = {
            "profile": profile, "settings": settings,
            "native": {"dir": args.dir, "host_myfs": host_myfs},
            "vm": None if (args.no_vm or host_myfs) else
                  {"kernel": args.kernel or DEFAULT_VM_KERNEL, "done": None},
            "chunks": [], "status": "running",
        }
        try:
            (folder / "raw").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"cannot create {folder}: {err.strerror}")
        plan["chunks"] = plan_chunks(list_cells(bench, profile, _dir_args(plan, None)))
        _write_json(folder / "plan.json", plan)
        _write_json(folder / "environment.json", environment(bench))
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)

    settings, profile = plan["settings"], plan["profile"]
    pending = [c for c in plan["chunks"] if not (raw / f"{c['id']}.json").exists()]
    total = sum(len(c["cells"]) for c in plan["chunks"])
    done = total - sum(len(c["cells"]) for c in pending)
    where = ("myfs on the host" if plan["native"]["host_myfs"] else
             f"{plan['native']['dir'] or '/dev/shm'} (native)")
    print(f"readpath run: {profile} profile, {total} cells in {len(plan['chunks'])} chunks on "
          f"{where}, {settings['repetitions']} repetitions; results in {folder}", file=sys.stderr)
    progress = Progress(total, done,
                        cost_total=sum(cell_cost(n) for c in plan["chunks"] for n in c["cells"]),
                        cost_done=sum(cell_cost(n) for c in plan["chunks"] if c not in pending
                                      for n in c["cells"]))
    guest_error = None
    try:
        if pending:
            if plan["native"]["host_myfs"]:
                with HostMyfs() as mount:
                    for chunk in pending:
                        run_chunk(bench, chunk, profile, settings, raw, progress,
                                  _dir_args(plan, mount))
            else:
                for chunk in pending:
                    run_chunk(bench, chunk, profile, settings, raw, progress,
                              _dir_args(plan, None))
            progress.finish()
        if plan["vm"] and not plan["vm"]["done"]:
            packages.ensure(packages.VM, "the myfs guest run")
            kernel = plan["vm"]["kernel"]
            suite = VM_SUITE_FOR_RUN[profile]
            print(f"readpath run: myfs hook counts in a {kernel} guest "
                  f"({shlex.join(VM_SUITES[suite])}, once; under TCG "
                  f"{'under a minute' if suite == 'tiny' else 'about 3 minutes'})",
                  file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                release, accel = myfs_in_vm(bench, kernel, suite, folder, timeout=1800)
            except RunError as err:
                guest_error = err   # the native results still deserve their report
            else:
                plan["vm"].update(done=release, accel=accel)
                _write_json(folder / "plan.json", plan)
                print(f"readpath run: guest {release} under {accel} done in "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    except KeyboardInterrupt:
        progress.finish()
        kept = sum(1 for c in plan["chunks"] if (raw / f"{c['id']}.json").exists())
        print(f"readpath run: interrupted; {kept} of {len(plan['chunks'])} chunks kept in "
              f"{folder}; `readpath run --resume` continues", file=sys.stderr)
        raise

    if guest_error is None:
        plan["status"] = "complete"
        _write_json(folder / "plan.json", plan)
    from . import report
    path = report.build(_load_runs(folder), folder)
    print(f"readpath run: wrote {path}", file=sys.stderr)
    print(folder)
    if guest_error is not None:
        raise RunError(f"the myfs guest run failed, so {path} has native timings only: "
                       f"{str(guest_error).splitlines()[0]}; `readpath run --resume` retries it")
    return 0


def _dir_args(plan, mount):
    if mount is not None:
        return ["--dir", str(mount)]
    if plan["native"]["dir"]:
        return ["--dir", plan["native"]["dir"]]
    return []


def _load_runs(folder):
    from . import results
    return [results.load(folder, label=folder.name)]


def _name(kernel):
    return getattr(kernel, "release", kernel)
