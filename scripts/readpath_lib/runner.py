"""Run the benchmark suite and write a results folder: raw JSON (never edited), an
environment file, charts (PNG and SVG) and report.md.

Where it runs: on a host that can load modules, on myfs mounted on the host. Otherwise
(this project's usual case) native timings on /dev/shm (or --dir) on the host, plus myfs
hook counts from the same suite in a QEMU guest on a Debian kernel; each is labelled by
its filesystem, and guest timings are marked emulated when they came from TCG.

The suite is cut into chunks (one readpath_bench invocation per file size) and run in
rounds: every chunk once per round, forward in odd rounds and backward in even ones, the
repetitions of all its cells in random order. A cell's repetitions are so spread over the
run: on a shared machine the same cell moves by half between one minute and the next (the
host's other tenants), and such a shift then widens every cell's spread instead of
biasing some cells against others. Each finished chunk of a round is saved as
raw/<chunk>-r<N>.json at once, so Ctrl-C keeps what finished and `--resume` runs only
what is missing.

Profiles (cells from readpath_bench; rounds and repetitions chosen here so that compare can
flag a change: Mann–Whitney U reaches p = 7e-7 at 12 vs 12 repetitions (quick) and 1e-5
at 10 vs 10 (default), enough for Holm over the cells of one file size and cache state):
  tiny     seconds: the CI smoke run
  --quick  about 4 minutes
  default  about 20 minutes on an idle 2-core host (1 GiB files)
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
import time
from pathlib import Path

from . import build, engine, guest_suite, packages, paths
from .errors import RunError, UsageError
from .progress import Progress

HELP = "run the suite (native + myfs hook counts in a VM) and write results/<date>-<kernel>-<host>/"

# Per profile: rounds, repetitions per chunk and round (their product is a cell's sample
# size), and the per-repetition minimum time (seconds) given to Google Benchmark.
PROFILES = {
    "tiny": {"rounds": 1, "repetitions": 3, "min_time": None},
    "quick": {"rounds": 4, "repetitions": 3, "min_time": 0.03},
    "default": {"rounds": 2, "repetitions": 5, "min_time": 0.04},
    "full": {"rounds": 3, "repetitions": 4, "min_time": 0.2},
}
VM_SUITE_FOR_RUN = {"tiny": "tiny", "quick": "tiny", "default": "quick", "full": "quick"}
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
                        help="repetitions per cell and round (default: the profile's; compare "
                             "needs 3 or more in all)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="rounds over every chunk (default: the profile's)")
    parser.add_argument("--no-build", action="store_true",
                        help="use the readpath_bench already built instead of building first")


# ---------------------------------------------------------------- planning

def plan_chunks(cells):
    """Group cells into chunks of one file size, in listing order: every cell of a chunk
    reads the same file, so one readpath_bench can run them all with their repetitions in
    random order, and each cell's repetitions spread over the whole chunk."""
    chunks = {}
    for cell in cells:
        file = next((p.split(":", 1)[1] for p in cell.split("/") if p.startswith("file:")), "any")
        chunks.setdefault(re.sub(r"[^A-Za-z0-9_.-]", "_", f"file{file}"), []).append(cell)
    return [{"id": cid, "cells": names} for cid, names in chunks.items()]


def chunk_file(raw, chunk, rnd):
    return raw / f"{chunk['id']}-r{rnd}.json"


def work_list(plan):
    """[(round, chunk)] in the order they run: forward in odd rounds, backward in even."""
    chunks = plan["chunks"]
    return [(r, c) for r in range(1, plan["settings"]["rounds"] + 1)
            for c in (chunks if r % 2 else chunks[::-1])]


# ---------------------------------------------------------------- progress

def cell_cost(name):
    """A repetition's expected time relative to one of a small-file cell. Below ~256 MiB a
    repetition lasts the minimum time; past it one pass over the file lasts longer, in
    proportion (measured here: 1 GiB cells take 4.7 times as long as the 1-256 MiB ones)."""
    match = re.search(r"/file:(\d+)", name)
    return max(int(match.group(1)) if match else 0, COST_UNIT_BYTES) / COST_UNIT_BYTES


COST_UNIT_BYTES = 256 << 20


# ---------------------------------------------------------------- running chunks

def run_chunk(bench, chunk, rnd, profile, settings, raw, progress, dir_args):
    """Run one chunk's round; its JSON appears as raw/<id>-r<N>.json only when it completed."""
    final = chunk_file(raw, chunk, rnd)
    partial = final.with_suffix(".json.partial")
    log = final.with_suffix(".log")
    reps = settings["repetitions"]
    cmd = [str(bench), "--profile", profile, *dir_args,
           f"--benchmark_filter={engine.cell_filter(chunk['cells'])}",
           f"--benchmark_out={partial}", "--benchmark_out_format=json",
           f"--benchmark_repetitions={reps}", "--benchmark_color=false"]
    if reps > 1:
        cmd.append("--benchmark_enable_random_interleaving=true")
    if settings.get("min_time"):
        cmd.append(f"--benchmark_min_time={settings['min_time']}")
    names = set(chunk["cells"])
    seen = {}
    progress.what = f"round {rnd} of {settings['rounds']}: {chunk['id']}"
    with open(log, "w") as log_file:
        log_file.write("$ " + shlex.join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        try:
            for line in proc.stdout:
                log_file.write(line)
                name = line.split(" ", 1)[0]
                if name in names:   # one line per repetition
                    seen[name] = seen.get(name, 0) + 1
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
    # Repetitions that printed no line (a skipped cell prints once) count now.
    missing = {n: reps - seen.get(n, 0) for n in names if seen.get(n, 0) < reps}
    progress.advance(sum(missing.values()),
                     cost=sum(cell_cost(n) * k for n, k in missing.items()))
    if status != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise RunError(f"readpath_bench failed on chunk {chunk['id']}, round {rnd} (exit {status}): "
                       f"{tail[0]}; "
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
        self._run(["mount", "-t", "myfs", "-o", guest_suite.BASE_OPTIONS, "none",
                   str(self.mount)],
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
            raise RunError(f"could not {what} on the host: {engine.last_line(proc.stderr)}; "
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
        raise UsageError("--repetitions must be at least 1 (3 or more in all for compare's "
                         "p-values)")
    if args.rounds is not None and args.rounds < 1:
        raise UsageError("--rounds must be at least 1")


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
        if args.rounds:
            settings["rounds"] = args.rounds
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
        plan["chunks"] = plan_chunks(engine.list_cells(bench, ["--profile", profile,
                                                               *_dir_args(plan, None)]))
        _write_json(folder / "plan.json", plan)
        _write_json(folder / "environment.json", environment(bench))
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)

    settings, profile = plan["settings"], plan["profile"]
    work = work_list(plan)
    pending = [(r, c) for r, c in work if not chunk_file(raw, c, r).exists()]
    reps = settings["repetitions"]
    total = reps * sum(len(c["cells"]) for _, c in work)
    done = total - reps * sum(len(c["cells"]) for _, c in pending)
    cost = lambda items: reps * sum(cell_cost(n) for _, c in items for n in c["cells"])  # noqa: E731
    where = ("myfs on the host" if plan["native"]["host_myfs"] else
             f"{plan['native']['dir'] or '/dev/shm'} (native)")
    print(f"readpath run: {profile} profile, {total // settings['rounds'] // reps} cells in "
          f"{len(plan['chunks'])} chunks on {where}, {settings['rounds']} round(s) of "
          f"{settings['repetitions']} repetitions; results in {folder}", file=sys.stderr)
    progress = Progress(total, done, cost_total=cost(work), cost_done=cost(work) - cost(pending),
                        unit="repetition")
    guest_error = None
    try:
        if pending:
            if plan["native"]["host_myfs"]:
                with HostMyfs() as mount:
                    for rnd, chunk in pending:
                        run_chunk(bench, chunk, rnd, profile, settings, raw, progress,
                                  _dir_args(plan, mount))
            else:
                for rnd, chunk in pending:
                    run_chunk(bench, chunk, rnd, profile, settings, raw, progress,
                              _dir_args(plan, None))
            progress.finish()
        if plan["vm"] and not plan["vm"]["done"]:
            packages.ensure(packages.VM, "the myfs guest run")
            kernel = plan["vm"]["kernel"]
            suite = VM_SUITE_FOR_RUN[profile]
            print(f"readpath run: myfs hook counts in a {kernel} guest "
                  f"({shlex.join(guest_suite.VM_SUITES[suite])}, once; under TCG "
                  f"{'under a minute' if suite == 'tiny' else 'about 3 minutes'})",
                  file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                release, accel = guest_suite.run_suite(
                    bench, kernel, suite, folder, lambda i, release: f"myfs-{release}")
            except RunError as err:
                guest_error = err   # the native results still deserve their report
            else:
                plan["vm"].update(done=release, accel=accel)
                _write_json(folder / "plan.json", plan)
                print(f"readpath run: guest {release} under {accel} done in "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    except KeyboardInterrupt:
        progress.finish()
        kept = sum(1 for r, c in work if chunk_file(raw, c, r).exists())
        print(f"readpath run: interrupted; {kept} of {len(work)} chunk rounds kept in "
              f"{folder}; `readpath run --resume` continues", file=sys.stderr)
        raise

    runs = _load_runs(folder)
    if all(b.skipped for b in runs[0].benchmarks.values()):
        reasons = sorted({b.skipped for b in runs[0].benchmarks.values()})
        raise RunError(f"every cell was skipped, so {folder} measured nothing: {reasons[0]}"
                       + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else "")
                       + "; pick another --dir")
    if guest_error is None:
        plan["status"] = "complete"
        _write_json(folder / "plan.json", plan)
    from . import report
    path = report.build(runs, folder)
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

