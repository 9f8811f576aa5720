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
Under TCG, where timings are noise, the guest also counts the instructions of every
one-thread cell's timed passes (docs/contracts.md, "Counted cost").
"""

import json
import re
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import backing as backings
from . import engine, paths, results
from .errors import RunError, UsageError
from .progress import Progress

VM_MOUNT = "/mnt/myfs"
DEFAULT_KERNEL = "6.1"   # the guest kernel when none is named: Debian 12's own series
# Every guest mount: generated content, and the call path of each hook's first call.
BASE_OPTIONS = "synthetic,trace=once"
# A block-mode mount reads the image's files: synthetic is refused there.
BLOCK_OPTIONS = "trace=once"
# Exit status of the guest script when myfs refuses a configuration's options.
_BAD_OPTIONS = 3


@dataclass(frozen=True)
class Config:
    label: str            # how tables name it
    options: str = ""     # extra myfs mount options; "" is myfs's defaults
    backing: backings.Backing = field(default=backings.MEMORY)   # what myfs runs on

    @property
    def mount_options(self):
        base = BLOCK_OPTIONS if self.backing.block else BASE_OPTIONS
        return ",".join(o for o in (base, self.options) if o)


def add_suite_arguments(parser, default_profile, timeout):
    """The options every command that runs the suite in a guest takes: which profile (the
    engine's; a guest under TCG runs its smaller TCG variant), whether to build first, how
    long the guest may take, what myfs runs on. The profile lands in args.profile."""
    from . import build
    engine.add_profile_arguments(parser, default_profile, build.bench_binary(), guest=True)
    parser.add_argument("--timeout", type=float, default=timeout, metavar="S",
                        help=f"give up on a guest after S seconds (default {timeout:g})")
    backings.add_arguments(parser)


def mkfs_binary():
    return paths.build_dir() / "tools" / "mkfs.myfs"


def engine_sizes(bench, profile):
    """{"tcg": [...], "other": [...]}: the file sizes of `profile` in a guest under TCG and
    under KVM (readpath_bench --list-profiles), which mkfs.myfs --engine-sizes lays out."""
    chosen = engine.profile(bench, profile)
    return {"tcg": chosen["tcg"]["file_sizes"], "other": chosen["file_sizes"]}


def schedule(configs, rounds):
    """[(round, config index)]: forward in odd rounds, backward in even ones."""
    order = list(range(len(configs)))
    return [(r, i) for r in range(1, rounds + 1)
            for i in (order if r % 2 else reversed(order))]


def _setup_function(i, config, sizes, drive):
    """Shell function setup_<i>: a fresh mount of configuration i (its device made and
    formatted anew on a block backing)."""
    q = shlex.quote
    body = [f"  n=0; until ! mountpoint -q {VM_MOUNT} || umount {VM_MOUNT} 2>/dev/null; do n=$((n+1)); "
            f'[ $n -ge 100 ] && {{ umount {VM_MOUNT}; exit 1; }}; sleep 0.1; done']
    if config.backing.block:
        body += ["  " + line for line in backings.guest_setup(config.backing, sizes=sizes,
                                                               mkfs=mkfs_binary(), drive=drive,
                                                               note=f'"$O/devices-{i}"')]
    source = backings.mount_source(config.backing)
    opts = q(config.mount_options)
    # myfs says why it refuses an image in the kernel log only: add its last word on it
    why = ' dmesg | grep "myfs: /dev/" | tail -n 1 >> "$O/mount.err";' if config.backing.block else ""
    body.append(f'  mount -t myfs -o {opts} {source} {VM_MOUNT} 2>"$O/mount.err" || '
                f'{{{why} echo {opts} > "$O/bad-options"; cat "$O/mount.err"; exit {_BAD_OPTIONS}; }}')
    return [f"setup_{i}() {{", *body, "}"]


def _script(bench, suite_args, configs, rounds, repetitions, sizes=None, drives=None):
    q = shlex.quote
    # Several configurations are compared cell by cell: their repetitions are interleaved
    # in random order, so that drift within a run falls on every cell alike. One alone (a
    # kernel of compare-kernels) runs in registration order.
    interleave = len(configs) > 1
    run_args = (f"--dir {VM_MOUNT} {shlex.join(suite_args)} "
                f"--benchmark_repetitions={repetitions} --benchmark_color=false")
    if interleave and repetitions > 1:
        run_args += " --benchmark_enable_random_interleaving=true"
    drives = drives or {}
    lines = ["set -e", 'O="$READPATH_OUT"', *backings.guest_prelude(),
             # The call paths of the mount under test, whatever else myfs has mounted.
             f'mount_paths() {{ cat "/sys/fs/myfs/$(mountpoint -d {VM_MOUNT})/paths"; }}']
    # A finished run's io_uring rings are torn down asynchronously and hold their files
    # for a moment: an unmount right after may find the mount busy (setup_<i> waits).
    for i, c in enumerate(configs):
        lines += _setup_function(i, c, sizes, drives.get(i))
    # Every configuration must mount before anything is measured.
    lines += [f"setup_{i}" for i in range(len(configs))]
    lines.append(f'{q(str(bench))} --dir {VM_MOUNT} {shlex.join(suite_args)} '
                 '--benchmark_list_tests > "$O/cells.partial" && mv "$O/cells.partial" "$O/cells"')
    if interleave:
        # Per configuration, one run in registration order (no interleaving) records the
        # call path that first reaches each hook, so that paths compare like with like; it
        # is also the warm-up (TCG's translation cache, the binaries' pages) and is not kept.
        for i, c in enumerate(configs):
            lines += [f"setup_{i}",
                      f"{q(str(bench))} --dir {VM_MOUNT} {shlex.join(suite_args)} "
                      "--benchmark_repetitions=1 --benchmark_color=false > /dev/null 2>&1 "
                      f'|| {{ echo "the path run of {i} failed"; exit 1; }}',
                      f'mount_paths > "$O/{i}.paths"']
    for r, i in schedule(configs, rounds):
        out = f"$O/{i}-r{r}"
        lines += [
            f"setup_{i}",
            f'{q(str(bench))} {run_args} --benchmark_out="{out}.json.partial" '
            f'--benchmark_out_format=json > "{out}.log" 2>&1 '
            f'|| {{ tail -n 5 "{out}.log"; exit 1; }}',
            f'mv "{out}.json.partial" "{out}.json"',
            *(f'[ ! -f "{out}.json.partial{suffix}" ] || '
              f'mv "{out}.json.partial{suffix}" "{out}.json{suffix}"' for suffix in results.SIDECARS),
        ]
        if not interleave:
            lines.append(f'[ -f "$O/{i}.paths" ] || mount_paths > "$O/{i}.paths"')
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


def _block_plan(bench, profile, configs, folder):
    """For configurations on a block backing: the file sizes mkfs.myfs lays out, the host
    files virtio ones attach ({config index: 1-based drive}, [paths]) and the temporary
    ones to remove after. Checks before a boot what can be checked on the host."""
    if not any(c.backing.block for c in configs):
        return None, {}, [], []
    mkfs = mkfs_binary()
    if not mkfs.is_file():
        raise RunError(f"{mkfs} is not built; build it (cmake --build {paths.build_dir()}) "
                       "or drop --no-build")
    sizes = engine_sizes(bench, profile)
    drives, files, temporary = {}, [], []
    for i, c in enumerate(configs):
        if c.backing.kind == "device":
            raise UsageError(f"backing {c.backing.spec} names a host device; a guest cannot "
                             "reach it: use virtio:file=PATH (a host file) in a guest")
        backings.check_fits(c.backing, min(sizes.values(), key=backings.image_bytes))
        if c.backing.kind == "virtio":
            default = folder / "virtio-drive.img"
            path = backings.prepare_virtio_file(c.backing, max(sizes.values(), key=backings.image_bytes),
                                                default)
            if path not in files:
                files.append(path)
                if not c.backing.param("file"):
                    temporary.append(path)
            drives[i] = files.index(path) + 1
    return sizes, drives, files, temporary


def run_suite(bench, kernel, profile, folder, stem, *, configs=None, rounds=1, repetitions=1,
              bench_args=(), timeout=1800):
    """Boot `kernel` (a spec or vm.Kernel) once and run readpath_bench's `profile` (its TCG
    variant under TCG) on myfs under each configuration (default: one with myfs's defaults,
    in memory), `repetitions` per run, in `rounds` interleaved rounds. A configuration on a
    block backing gets its device made, set and formatted with mkfs.myfs anew before each
    of its runs (backing.guest_setup). Leaves in folder/raw/, per configuration,
    `<stem>.json` (or `<stem>-r<N>.json` per round when rounds > 1), `.log` likewise and one
    `<stem>.paths` (call path per hook), where stem(index, release) names configuration
    `index`, and in folder/backing.json each stem's backing as asked and each device as the
    guest found it. Under TCG the guest counts instructions (vm.run_in_vm's icount): its
    one-thread cells carry instructions per request. Returns (release, accel). A configuration myfs refuses, or a setting
    the device refuses (a scheduler it does not offer), raises UsageError."""
    from . import vm
    configs = configs or [Config("defaults")]
    suite_args = ["--profile", profile, *bench_args]
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    scratch = folder / "vm-out"
    if scratch.is_dir():   # what an interrupted attempt left
        for leftover in scratch.iterdir():
            leftover.unlink()
    sizes, drives, files, temporary = _block_plan(bench, profile, configs, folder)
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
                                                           repetitions, sizes, drives)],
                              myfs=VM_MOUNT, myfs_opts=BASE_OPTIONS, out=scratch,
                              timeout=timeout, drives=files, echo=False, icount=True)
    finally:
        watcher.stop()
        progress.finish()
        for path in temporary:
            path.unlink(missing_ok=True)
    name = getattr(kernel, "release", kernel)
    if (scratch / "bad-backing").is_file():
        raise UsageError(f"on {name}: {_read(scratch / 'bad-backing').strip()}")
    if (scratch / "setup-failed").is_file():
        raise RunError(f"on {name}: {_read(scratch / 'setup-failed').strip()}; logs in {scratch}")
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
    record = _read(folder / "backing.json")
    record = json.loads(record) if record else {}
    for i, c in enumerate(configs):
        final = stem(i, release)
        for r in range(1, rounds + 1):
            suffix = "" if rounds == 1 else f"-r{r}"
            results.move_result(scratch / f"{i}-r{r}.json", raw / f"{final}{suffix}.json")
            (scratch / f"{i}-r{r}.log").rename(raw / f"{final}{suffix}.log")
        (scratch / f"{i}.paths").rename(raw / f"{final}.paths")
        record[final] = {**c.backing.record(), "mount_options": c.mount_options,
                         "devices": sorted({d.split(" ", 1)[1] for d in
                                            _read(scratch / f"devices-{i}").splitlines()})}
    (folder / "backing.json").write_text(json.dumps(record, indent=1) + "\n")
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
