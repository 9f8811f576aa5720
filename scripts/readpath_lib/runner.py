"""A run's results folder and how it is filled: the plan (chunks of one file size, rounds
forward and backward), running one chunk's round with readpath_bench, the environment
record, and myfs on a host that can load modules. `readpath run` drives it."""

import datetime
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import children, engine, guest_suite, paths, results
from .errors import RunError, UsageError

# ---------------------------------------------------------------- planning

def plan_chunks(cells, cold_apart=False):
    """Group cells into chunks of one file size, in listing order: every cell of a chunk
    reads the same file, so one readpath_bench can run them all in random order. With
    cold_apart, the cold cells of a size are a chunk of their own (`file<size>-cold`), run
    in another directory: on a disk, where a page cache can be emptied."""
    chunks = {}
    for cell in cells:
        file = next((p.split(":", 1)[1] for p in cell.split("/") if p.startswith("file:")), "any")
        cold = cold_apart and "/warm:0" in cell
        cid = re.sub(r"[^A-Za-z0-9_.-]", "_", f"file{file}") + ("-cold" if cold else "")
        chunks.setdefault(cid, {"id": cid, "cells": [], **({"cold": True} if cold else {})})
        chunks[cid]["cells"].append(cell)
    return list(chunks.values())


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
    # Each round runs the chunk's cells in a new random order (with one repetition too):
    # no cell always runs first after the file is written, or always after a given other.
    cmd.append("--benchmark_enable_random_interleaving=true")
    names = set(chunk["cells"])
    seen = {}
    progress.what = f"round {rnd} of {settings['rounds']}: {chunk['id']}"
    proc = None
    # Ctrl-C may come at any point, the start of the process included (a run is often
    # interrupted just as a chunk completes and the next one starts): whatever it
    # interrupts, the process is stopped and no .partial stays behind.
    try:
        with open(log, "w") as log_file:
            log_file.write("$ " + shlex.join(cmd) + "\n")
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1)
            for line in proc.stdout:
                log_file.write(line)
                name = line.split(" ", 1)[0]
                if name in names:   # one line per repetition
                    seen[name] = seen.get(name, 0) + 1
                    progress.advance(cost=cell_cost(name))
            status = proc.wait()
        # Repetitions that printed no line (a skipped cell prints once) count now.
        missing = {n: reps - seen.get(n, 0) for n in names if seen.get(n, 0) < reps}
        progress.advance(sum(missing.values()),
                         cost=sum(cell_cost(n) * k for n, k in missing.items()))
        if status != 0 or not partial.exists():
            tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
            raise RunError(f"readpath_bench failed on chunk {chunk['id']}, round {rnd} (exit "
                           f"{status}): {tail[0]}; full output in {log}; `readpath run --resume` "
                           "retries from this chunk")
        results.move_result(partial, final)
    except BaseException:
        if proc is not None and proc.poll() is None:
            children.stop(proc)
        partial.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- the results folder

def host_kernel():
    return platform.release()


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


def write_json(path, data):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.rename(path)


def _read(path):
    """A small kernel or system file's text, stripped; None when it cannot be read."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def environment(bench):
    """What the host looked like; readpath_bench's JSON context has the per-run details."""
    commit = subprocess.run(["git", "-C", str(paths.REPO), "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(paths.REPO), "status", "--porcelain", "--", "src",
                            "bench", "kmod"], capture_output=True, text=True).stdout.strip()
    meminfo = _read("/proc/meminfo") or ""
    total = re.search(r"MemTotal:\s+(\d+)", meminfo)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "kernel": host_kernel(),
        "cpu_count": os.cpu_count(),
        "mem_total_kib": int(total.group(1)) if total else None,
        "os": (re.search(r'PRETTY_NAME="([^"]+)"', _read("/etc/os-release") or "") or [None, None])[1],
        "python": platform.python_version(),
        "readpath_commit": commit + ("-dirty" if dirty else ""),
        "readpath_bench": str(bench),
        "can_load_modules": kernel_loads_modules(),
        "root": os.geteuid() == 0,
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "command": shlex.join(["readpath", *sys.argv[1:]]),
    }


def kernel_loads_modules():
    """Whether the running kernel has module support at all (CONFIG_MODULES)."""
    return Path("/proc/modules").exists()


def host_loads_myfs():
    """Whether `run` times myfs on this host: the kernel loads modules and we are root.
    A kernel that loads modules but a user who is not root is an error, not a silent switch
    to another filesystem: the user asked for the run README gives."""
    if not kernel_loads_modules():
        return False
    if os.geteuid() != 0:
        raise UsageError("this kernel loads modules, so readpath run times myfs on it, which "
                         "needs root: rerun as root (sudo scripts/readpath run), or time a "
                         "directory of yours with --dir DIR --no-vm")
    # Root in a container (systemd-nspawn, docker without --privileged) sees /proc/modules
    # but may not load one, and no root can once modules_disabled is set: myfs then goes
    # to a guest, as on a kernel without modules.
    return _has_cap_sys_module() and _read_first("/proc/sys/kernel/modules_disabled") != "1"


CAP_SYS_MODULE = 16


def _has_cap_sys_module():
    status = _read_first("/proc/self/status", key="CapEff:")
    try:
        return bool(int(status, 16) >> CAP_SYS_MODULE & 1)
    except ValueError:
        return True   # cannot tell: try, and let insmod say why not


def _read_first(path, key=None):
    """The first line of a file (or the value of its line starting with `key`), or ""."""
    lines = (_read(path) or "").splitlines()
    if key is None:
        return lines[0].strip() if lines else ""
    return next((line[len(key):].strip() for line in lines if line.startswith(key)), "")


def dir_args(plan, mount, chunk=None):
    """readpath_bench's --dir for a plan's chunk: the host's myfs mount, the user's --dir,
    the disk directory of a cold chunk, or none (readpath_bench's own fresh directory in
    memory: `engine.scratch_dir` says where)."""
    if mount is not None:
        return ["--dir", str(mount)]
    if plan["native"]["dir"]:
        return ["--dir", plan["native"]["dir"]]
    cold_dir = plan["native"].get("cold_dir")
    if chunk is not None and chunk.get("cold") and cold_dir:
        Path(cold_dir).mkdir(exist_ok=True)   # a resumed run's, removed when it completed
        return ["--dir", cold_dir]
    return []


# Filesystems with a device under their page cache, which a cold cell can empty.
DISK_FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs")


def cold_dir(given, folder):
    """The directory a run's cold cells read from: the user's --cold-dir, else a fresh
    `readpath-cold-<run>` under the first of /var/tmp and the results folder's parent that
    is on a disk filesystem; None where none is (cold cells then skip, saying why).
    Returns (path, what to tell the user)."""
    if given:
        return str(Path(given).resolve()), f"cold cells on {given} ({fs_type_of(given)}), as given"
    for parent in (Path("/var/tmp"), Path(folder).resolve().parent):
        fstype = fs_type_of(parent)
        if fstype in DISK_FILESYSTEMS and os.access(parent, os.W_OK | os.X_OK):
            path = parent / f"readpath-cold-{Path(folder).name}"
            return str(path), (f"cold cells on {path} ({fstype}): a disk's page cache, emptied "
                               "and checked before every pass")
    return None, ("no directory on a disk filesystem (ext4, xfs, btrfs, ...) in /var/tmp or "
                  "beside the results: cold cells skip; give one with --cold-dir")


def remove_cold_dir(plan):
    """The cold cells' directory, once the run is complete (readpath_bench removed its files)."""
    cold = plan["native"].get("cold_dir")
    if cold and Path(cold).name.startswith("readpath-cold-"):
        try:
            Path(cold).rmdir()
        except OSError:
            pass


# ---------------------------------------------------------------- myfs on the host

MODULE = "myfs"
HOST_MOUNT = Path("/mnt/readpath-myfs")


def _modules():
    try:
        return {line.split()[0] for line in Path("/proc/modules").read_text().splitlines()}
    except OSError:
        return set()


def mounts():
    """[(mount point, filesystem type)] of this mount namespace, in mountinfo order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        found.append((left.split()[4].replace("\\040", " "), right.split(" ", 1)[0]))
    return found


def fs_type_of(path):
    """The filesystem type of the mount holding path: the last-mounted of the deepest mount
    points above its real path (None when mountinfo lists none, as in some chroots)."""
    real = os.path.realpath(path)
    above = [(len(point), i, fstype) for i, (point, fstype) in enumerate(mounts())
             if point == "/" or real == point or real.startswith(point + "/")]
    return max(above)[2] if above else None


def myfs_mounts():
    """Mount points of every myfs mounted in this mount namespace."""
    return [point for point, fstype in mounts() if fstype == MODULE]


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode, engine.last_line(proc.stderr or proc.stdout)


def _umount(mount, tries=50):
    """Unmount, waiting out a busy mount for a moment (io_uring rings release their files
    asynchronously after their process exits)."""
    for _ in range(tries):
        status, message = _run(["umount", str(mount)])
        if status == 0:
            return None
        time.sleep(0.1)
    return message


def _refused(message):
    """Why the kernel would not load an unsigned module, as far as it says."""
    why = []
    lockdown = _read("/sys/kernel/security/lockdown")
    if lockdown and "[none]" not in lockdown:
        why.append(f"the kernel is locked down ({lockdown})")
    if _read("/sys/module/module/parameters/sig_enforce") == "Y":
        why.append("it loads only signed modules (module.sig_enforce, or Secure Boot)")
    reason = " and ".join(why) or "see dmesg"
    return (f"the kernel refused to load myfs ({message}): {reason}; sign myfs.ko with a key "
            "the kernel trusts (Debian: a MOK enrolled with mokutil) or turn enforcement off, "
            "or rerun with --dir DIR to time another filesystem instead")


class HostMyfs:
    """myfs built for the running kernel, loaded and mounted for the run, removed after,
    on success, error and Ctrl-C alike. A myfs that an earlier run left loaded or mounted
    at readpath's mount point is removed first; one mounted elsewhere is someone else's.
    With a device: backing (backing.py; the caller has the user's --format-device), the
    device gets its scheduler and read_ahead_kb, is formatted with mkfs.myfs for the file
    `sizes` and myfs mounts it in block mode."""

    def __init__(self, log=lambda msg: print(msg, file=sys.stderr), backing=None, sizes=()):
        self.log = log
        self.backing, self.sizes = backing, list(sizes)
        self.loaded = self.mounted = False

    def __enter__(self):
        self._clear_stale()
        ko = self._build()
        status, message = _run(["insmod", str(ko)])
        if status != 0:
            raise RunError(_refused(message) if ("rejected" in message or "not permitted"
                                                 in message) else
                           f"could not load myfs on the host: {message}; rerun with --dir DIR "
                           "to time another filesystem instead")
        self.loaded = True
        try:
            HOST_MOUNT.mkdir(parents=True, exist_ok=True)
            source, options = "none", guest_suite.BASE_OPTIONS
            if self.backing is not None and self.backing.kind == "device":
                source, options = self._format_device(), guest_suite.BLOCK_OPTIONS
            status, message = _run(["mount", "-t", MODULE, "-o", options,
                                    source, str(HOST_MOUNT)])
            if status != 0:
                raise RunError(f"could not mount myfs at {HOST_MOUNT}: {message}")
        except BaseException:
            self.__exit__()
            raise
        self.mounted = True
        return HOST_MOUNT

    def __exit__(self, *exc):
        left = []
        if self.mounted:
            failed = _umount(HOST_MOUNT)
            if failed:
                left.append(f"mounted at {HOST_MOUNT} ({failed}; umount {HOST_MOUNT})")
            self.mounted = bool(failed)
        if self.loaded and not self.mounted:
            status, message = _run(["rmmod", MODULE])
            if status != 0:
                left.append(f"loaded ({message}; rmmod {MODULE})")
            self.loaded = status != 0
        if left:
            self.log(f"readpath run: myfs is still {' and '.join(left)}")

    def _format_device(self):
        """Set the device's queue as asked, format it with mkfs.myfs; its path."""
        device = Path(self.backing.path)
        if not device.is_block_device():
            raise UsageError(f"--backing {self.backing.spec}: {device} is not a block device")
        queue = Path("/sys/class/block") / device.resolve().name / "queue"
        if not queue.is_dir():   # a partition: its disk's queue
            queue = Path("/sys/class/block") / device.resolve().name / ".." / "queue"
        if self.backing.scheduler:
            offered = (_read(queue / "scheduler") or "").replace("[", "").replace("]", "").split()
            if self.backing.scheduler not in offered:
                raise UsageError(f"{device} does not offer the {self.backing.scheduler} scheduler; "
                                 f"it offers: {' '.join(offered) or 'none'}")
            (queue / "scheduler").write_text(self.backing.scheduler)
        if self.backing.read_ahead_kb is not None:
            (queue / "read_ahead_kb").write_text(str(self.backing.read_ahead_kb))
        mkfs = guest_suite.mkfs_binary()
        status, message = _run([str(mkfs), str(device), "--engine-sizes",
                                ",".join(str(s) for s in self.sizes)])
        if status != 0:
            raise RunError(f"mkfs.myfs {device} failed: {message}")
        return str(device)

    def _clear_stale(self):
        mounts = myfs_mounts()
        others = [m for m in mounts if Path(m) != HOST_MOUNT]
        if others:
            raise RunError(f"myfs is mounted at {', '.join(others)}, not by readpath run; "
                           f"unmount it (umount {others[0]}) and rerun")
        if MODULE not in _modules():
            return
        for mount in mounts:
            failed = _umount(mount)
            if failed:
                raise RunError(f"an earlier run left myfs mounted at {mount} and it will not "
                               f"unmount: {failed}")
        status, message = _run(["rmmod", MODULE])
        if status != 0:
            raise RunError(f"an earlier run left myfs loaded and it will not unload: {message}; "
                           f"rmmod {MODULE} and rerun")
        self.log("readpath run: removed the myfs an earlier run left "
                 + (f"mounted at {HOST_MOUNT}" if mounts else "loaded"))

    def _build(self):
        from . import vm
        release = host_kernel()
        kernel = vm.kernels.running_kernel(release)
        headers = kernel.headers
        try:
            return vm.build_myfs(kernel, self.log)
        except (UsageError, RunError) as err:
            if not (headers / "Makefile").is_file():
                raise RunError(f"myfs must be built for the running kernel {release}, whose "
                               f"headers are not installed ({headers} is missing): install "
                               f"linux-headers-{release} (apt-get install linux-headers-{release}), "
                               "or rerun with --dir DIR to time another filesystem instead") from None
            raise RunError(f"cannot build myfs for the host kernel {release} "
                           f"({str(err).splitlines()[0]}); rerun with --dir DIR to time "
                           "another filesystem instead") from None
