"""The readpath suite on myfs inside a guest kernel, in one place: what `run` adds to its
native timings, what `compare-kernels` runs per kernel and what `compare-options` runs per
set of myfs mount options.

One boot per call. Each configuration (a set of extra myfs mount options) gets a fresh
mount, so counters, recorded call paths and the page cache start empty and options a
previous configuration named do not linger. With several configurations or rounds, each
configuration first runs the suite once in registration order, which records its call
paths (the first call of each hook: comparable only if the cells came in the same order)
and warms up; then the measured runs are interleaved and counterbalanced — round 1 runs
A B C, round 2 C B A, … — so that drift of the host falls on every configuration alike.
"""

import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

from . import engine, results
from .errors import RunError, UsageError
from .progress import Progress

VM_MOUNT = "/mnt/myfs"
DEFAULT_KERNEL = "6.1"   # the guest kernel when none is named: Debian 12's own series
# Every guest mount: generated content, and the call path of each hook's first call.
BASE_OPTIONS = "synthetic,trace=once"
# Exit status of the guest script when myfs refuses a configuration's options.
_BAD_OPTIONS = 3


@dataclass(frozen=True)
class Config:
    label: str            # how tables name it
    options: str = ""     # extra myfs mount options; "" is myfs's defaults

    @property
    def mount_options(self):
        return ",".join(o for o in (BASE_OPTIONS, self.options) if o)


def add_suite_arguments(parser, default_profile, timeout):
    """The options every command that runs the suite in a guest takes: which profile (the
    engine's; a guest under TCG runs its smaller TCG variant), how long the guest may take,
    whether to build first. The profile lands in args.profile."""
    from . import build
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="the quick profile")
    size.add_argument("--profile", dest="profile", metavar="NAME",
                      help=f"a profile by name (default {default_profile}); "
                           + engine.profiles_help(build.bench_binary(), guest=True))
    # Set on the parser: two actions share the destination, and the first one's default
    # (--quick's None) would win over a default given to --profile.
    parser.set_defaults(profile=default_profile)
    parser.add_argument("--timeout", type=float, default=timeout, metavar="S",
                        help=f"give up on a guest after S seconds (default {timeout:g})")
    parser.add_argument("--no-build", action="store_true",
                        help="use the readpath_bench already built instead of building first")


def schedule(configs, rounds):
    """[(round, config index)]: forward in odd rounds, backward in even ones."""
    order = list(range(len(configs)))
    return [(r, i) for r in range(1, rounds + 1)
            for i in (order if r % 2 else reversed(order))]


def _script(bench, suite_args, configs, rounds, repetitions):
    q = shlex.quote
    # Several configurations are compared cell by cell: their repetitions are interleaved
    # in random order, so that drift within a run falls on every cell alike. One alone (a
    # kernel of compare-kernels) runs in registration order.
    interleave = len(configs) > 1
    run_args = (f"--dir {VM_MOUNT} {shlex.join(suite_args)} "
                f"--benchmark_repetitions={repetitions} --benchmark_color=false")
    if interleave and repetitions > 1:
        run_args += " --benchmark_enable_random_interleaving=true"
    lines = [
        "set -e",
        'O="$READPATH_OUT"',
        # A finished run's io_uring rings are torn down asynchronously and hold their
        # files for a moment: an unmount right after may find the mount busy.
        "remount() {",
        f"  n=0; until umount {VM_MOUNT} 2>/dev/null; do n=$((n+1)); "
        f'[ $n -ge 100 ] && {{ umount {VM_MOUNT}; exit 1; }}; sleep 0.1; done',
        f'  mount -t myfs -o "$1" myfs {VM_MOUNT} 2>"$O/mount.err" || '
        f'{{ echo "$1" > "$O/bad-options"; cat "$O/mount.err"; exit {_BAD_OPTIONS}; }}',
        "}",
    ]
    lines.append(f'{q(str(bench))} --dir {VM_MOUNT} {shlex.join(suite_args)} '
                 '--benchmark_list_tests > "$O/cells.partial" && mv "$O/cells.partial" "$O/cells"')
    # Every configuration must mount before anything is measured.
    lines += [f"remount {q(c.mount_options)}" for c in configs]
    if interleave:
        # Per configuration, one run in registration order (no interleaving) records the
        # call path that first reaches each hook, so that paths compare like with like; it
        # is also the warm-up (TCG's translation cache, the binaries' pages) and is not kept.
        for i, c in enumerate(configs):
            lines += [f"remount {q(c.mount_options)}",
                      f"{q(str(bench))} --dir {VM_MOUNT} {shlex.join(suite_args)} "
                      "--benchmark_repetitions=1 --benchmark_color=false > /dev/null 2>&1 "
                      f'|| {{ echo "the path run of {i} failed"; exit 1; }}',
                      f'cat /sys/fs/myfs/*/paths > "$O/{i}.paths"']
    for r, i in schedule(configs, rounds):
        out = f"$O/{i}-r{r}"
        lines += [
            f"remount {q(configs[i].mount_options)}",
            f'{q(str(bench))} {run_args} --benchmark_out="{out}.json.partial" '
            f'--benchmark_out_format=json > "{out}.log" 2>&1 '
            f'|| {{ tail -n 5 "{out}.log"; exit 1; }}',
            f'mv "{out}.json.partial" "{out}.json"',
            f'[ ! -f "{out}.json.partial.latency.json" ] || '
            f'mv "{out}.json.partial.latency.json" "{out}.json.latency.json"',
        ]
        if not interleave:
            lines.append(f'[ -f "$O/{i}.paths" ] || cat /sys/fs/myfs/*/paths > "$O/{i}.paths"')
    lines.append('uname -r > "$O/release"')
    return "\n".join(lines) + "\n"


class _Watcher(threading.Thread):
    """Follows the guest's console logs, which reach the host as they are written, and
    moves the progress line as cells finish all their repetitions."""

    def __init__(self, folder, names, repetitions, progress, runs):
        super().__init__(daemon=True)
        self.folder, self.names, self.reps, self.progress = folder, names, repetitions, progress
        self.runs = runs
        self.listed = False
        self.halt = threading.Event()

    def guest_list(self):
        """The guest's own cell list, once it has written it."""
        if self.listed:
            return
        names = {line.strip() for line in _read(self.folder / "cells").splitlines() if line.strip()}
        if names:
            self.names, self.listed = names, True
            self.progress.total = self.progress.cost_total = len(names) * self.runs

    def count(self):
        done = 0
        for log in self.folder.glob("*.log"):
            try:
                text = log.read_text(errors="replace")
            except OSError:
                continue
            done += sum(1 for n in engine.cell_lines(text, self.names).values() if n >= self.reps)
        return done

    def run(self):
        while not self.halt.wait(2):
            self.guest_list()
            done = self.count()
            if done > self.progress.done:
                self.progress.advance(done - self.progress.done)

    def stop(self):
        self.halt.set()
        self.join()


def run_suite(bench, kernel, profile, folder, stem, *, configs=None, rounds=1, repetitions=1,
              bench_args=(), timeout=1800):
    """Boot `kernel` (a spec or vm.Kernel) once and run readpath_bench's `profile` (its TCG
    variant under TCG) on myfs under each configuration (default: one with myfs's defaults), `repetitions` per
    run, in `rounds` interleaved rounds. Leaves in folder/raw/, per configuration,
    `<stem>.json` (or `<stem>-r<N>.json` per round when rounds > 1), `.log` likewise and one
    `<stem>.paths` (call path per hook), where stem(index, release) names configuration
    `index`. Returns (release, accel). A configuration myfs refuses raises UsageError."""
    from . import vm
    configs = configs or [Config("defaults")]
    suite_args = ["--profile", profile, *bench_args]
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    scratch = folder / "vm-out"
    if scratch.is_dir():   # what an interrupted attempt left
        for leftover in scratch.iterdir():
            leftover.unlink()
    # The cells a TCG guest will run; the guest lists its own first (the accelerator decides
    # them), and the watcher takes that list when it arrives.
    cells = engine.list_cells(bench, suite_args, accel="tcg")
    runs = schedule(configs, rounds)
    progress = Progress(len(cells) * len(runs))
    progress.what = f"myfs in a {getattr(kernel, 'release', kernel)} guest"
    watcher = _Watcher(scratch, set(cells), repetitions, progress, len(runs))
    watcher.start()
    try:
        result = vm.run_in_vm(kernel, ["sh", "-c", _script(bench, suite_args, configs, rounds,
                                                           repetitions)],
                              myfs=VM_MOUNT, myfs_opts=BASE_OPTIONS, out=scratch,
                              timeout=timeout, echo=False)
    finally:
        watcher.stop()
        progress.finish()
    name = getattr(kernel, "release", kernel)
    if (scratch / "bad-options").is_file():
        refused = (scratch / "bad-options").read_text().strip()
        why = engine.last_line(_read(scratch / "mount.err"))
        raise UsageError(f"myfs on {name} refuses the mount options {refused!r}: {why}")
    if result.returncode != 0:
        raise RunError(f"the myfs suite failed in the {name} guest (exit {result.returncode}): "
                       f"{engine.last_line(result.output)}; logs in {scratch}")
    release = _read(scratch / "release").strip()
    if not release:
        raise RunError(f"the {name} guest finished but left no results in {scratch}")
    for i in range(len(configs)):
        final = stem(i, release)
        for r in range(1, rounds + 1):
            suffix = "" if rounds == 1 else f"-r{r}"
            results.move_result(scratch / f"{i}-r{r}.json", raw / f"{final}{suffix}.json")
            (scratch / f"{i}-r{r}.log").rename(raw / f"{final}{suffix}.log")
        (scratch / f"{i}.paths").rename(raw / f"{final}.paths")
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()
    return release, result.accel


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def slug(label):
    """A configuration label as a file name part."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_") or "defaults"
