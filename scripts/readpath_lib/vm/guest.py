"""run_in_vm: boot a kernel in QEMU with the host root shared read-only under a tmpfs
overlay, run one command in it, and bring back its output, exit status, files and any
kernel trouble."""

import errno
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import packages, paths
from ..errors import RunError, UsageError
from . import initramfs, kernels, qemu

GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NINEP = "trans=virtio,version=9p2000.L,msize=262144"
# Kernel log lines that fail a run, whatever the command's own status.
# (Boot-time "WARNING:" notes about CPU vulnerabilities or a user program's GP fault are
# not kernel trouble, so WARN and die() are matched by the formats they print: up to 6.x
# `WARNING: CPU: 0 PID: 134 at FILE:LINE FUNC`, in 7.x `WARNING: FILE:LINE at FUNC, CPU#0: COMM/PID`.)
TROUBLE = re.compile(r"Kernel panic - not syncing|\bOops\b|\bBUG: |kernel BUG at|"
                     r"WARNING: CPU: \d+ PID: \d+ at|WARNING: \S+ at \S+.*, CPU#\d+: |"
                     r"WARNING: (possible|suspicious|inconsistent) |"
                     r"\[#\d+\]")
TAIL_LINES = 40
# Quiet console (the full log is read with dmesg at the end), reboot on panic (QEMU then
# exits), and skip what costs seconds under TCG without changing the kernel under test:
# crypto self-tests and the KDF self-test.
KERNEL_ARGS = ["console=ttyS0", "panic=-1", "loglevel=5", "mitigations=off", "tsc=reliable",
               "no_timer_check", "i8042.noaux", "cryptomgr.notests",
               "initcall_blacklist=crypto_kdf108_init"]


# The file in the guest's control share through which the readpath_icount plugin answers.
ICOUNT_FILE = "icount"


def icount_plugin() -> Path:
    """The readpath_icount QEMU plugin in the build tree; RunError when it is not built."""
    plugin = paths.build_dir() / "tools" / "readpath_icount.so"
    if not plugin.is_file():
        raise RunError(f"{plugin} is not built; build it (cmake --build {paths.build_dir()}) "
                       "to count instructions")
    return plugin


@dataclass
class VmResult:
    returncode: int         # the command's exit status (128+N when killed by signal N)
    output: str             # its stdout and stderr, interleaved as on a terminal
    accel: str              # "kvm" or "tcg"
    kernel_release: str     # uname -r in the guest
    boot_seconds: float     # QEMU start until the command starts
    command_seconds: float  # the command alone
    console: str = ""       # the guest kernel's console log


class _Reader(threading.Thread):
    """Drains one guest serial port (a Unix socket QEMU connected to) into memory."""

    def __init__(self, listener, on_data=None):
        super().__init__(daemon=True)
        self.listener, self.on_data = listener, on_data
        self.chunks, self.conn = [], None
        self.marks = {}  # marker word → monotonic time first seen

    def accept(self, proc, deadline):
        self.listener.settimeout(0.2)
        while self.conn is None:
            try:
                self.conn, _ = self.listener.accept()
            except socket.timeout:
                if proc.poll() is not None or time.monotonic() > deadline:
                    return False
        return True

    def run(self):
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                break
            if not data:
                break
            self.chunks.append(data)
            if self.on_data:
                self.on_data(data)

    def text(self):
        return b"".join(self.chunks).decode(errors="replace")


class _ConsoleReader(_Reader):
    """The kernel console; notes when the guest script announces that the guest is up
    (ready), and the command's start and end."""

    def __init__(self, listener, nonce):
        super().__init__(listener, self._watch)
        self.pattern = re.compile(rb"readpath-guest: (ready|start|done)-" + nonce.encode())
        self.tail = b""

    def _watch(self, data):
        window = self.tail + data
        for match in self.pattern.finditer(window):
            self.marks.setdefault(match.group(1).decode(), time.monotonic())
        self.tail = window[-64:]


def _guest_script(*, nonce, shares, out_share, myfs, myfs_opts, command, env, cwd, drives=0,
                  modules=None):
    """The per-run script the guest's PID 1 runs after switching to the host root."""
    q = shlex.quote
    lines = [
        "# readpath guest stage 2 (generated per run): mounts, myfs, the command, shutdown.",
        "B=/run/readpath/busybox",
        "CTL=/run/readpath/ctl",
        f"export PATH={GUEST_PATH}",
        'note() { echo "$*" >> $CTL/status; }',
        'say() { echo "readpath-guest: $*" > /dev/ttyS0; }',
        "finish() { $B dmesg > $CTL/dmesg; $B sync; $B reboot -f; }",
        "$B mkdir -p /dev/shm; for d in /tmp /var/tmp /dev/shm; do $B mount -t tmpfs -o mode=1777 tmpfs $d; done",
        "$B mount -t tmpfs -o mode=0755 tmpfs /mnt",  # /run is stage 1's; GUEST_TMPFS lists all
        "$B mkdir -p /dev/pts && $B mount -t devpts devpts /dev/pts",
        "$B mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null",
        "$B mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null",
        "$B hostname readpath-guest",
    ]
    for tag, path in shares:  # writable like the root: a tmpfs over the read-only share
        lower, rw = f"/run/readpath/lower/{tag}", f"/run/readpath/rw/{tag}"
        lines.append(f"$B mkdir -p {q(path)} 2>/dev/null; $B mkdir -p {lower} {rw}/upper {rw}/work && "
                     f"$B mount -t 9p -o ro,{NINEP},cache=loose {tag} {lower} && "
                     f"$B mount -t overlay -o {initramfs.OVERLAY},lowerdir={lower},upperdir={rw}/upper,"
                     f"workdir={rw}/work {tag} {q(path)} || {{ note {q('fail share ' + path)}; finish; }}")
    if modules:  # a kernel whose modules are not the host's: its tree, read-only
        lines.append(f"$B mkdir -p {q(modules)} && $B mount -t 9p -o ro,{NINEP},cache=loose rp_mods "
                     f"{q(modules)} || {{ note {q('fail share ' + modules)}; finish; }}")
    lines.append("$B mkdir -p /run/readpath/out")
    if out_share:
        lines.append(f"$B mount -t 9p -o {NINEP} rp_out /run/readpath/out "
                     "|| { note 'fail share out'; finish; }")
    lines.append("$B stty -F /dev/ttyS1 raw -echo")
    lines.append("RP_DRIVES=")
    if drives:
        # virtio_blk names disks in probe order; find each drive by the serial QEMU gave it.
        lines += [
            "modprobe virtio_blk 2>>$CTL/drives.err || { note 'fail drives'; finish; }",
            f"i=0; while [ $i -lt {drives} ]; do n=0; found=; "
            "while [ -z \"$found\" ]; do "
            "for s in /sys/block/vd*/serial; do [ \"$($B cat $s 2>/dev/null)\" = rp_d$i ] && "
            "found=${s%/serial} && found=${found##*/}; done; "
            "[ -n \"$found\" ] && [ -b /dev/$found ] && break; found=; n=$((n+1)); "
            "[ $n -ge 50 ] && { echo \"drive $i (serial rp_d$i) did not appear\" >> $CTL/drives.err; "
            "note 'fail drives'; finish; }; $B sleep 0.1; done; "
            "RP_DRIVES=\"$RP_DRIVES${RP_DRIVES:+ }/dev/$found\"; i=$((i+1)); done",
        ]
    # From here on what runs is under test (myfs, the command): trouble before this mark
    # is the boot's (run_in_vm tries once more), after it the run's.
    lines.append(f"say ready-{nonce}")
    if myfs:
        mnt = q(myfs)
        opts = f"-o {q(myfs_opts)} " if myfs_opts else ""
        lines += [
            "$B insmod $CTL/myfs.ko 2>>$CTL/myfs.err || { note 'fail myfs-load'; finish; }",
            f"$B mkdir -p {mnt} 2>>$CTL/myfs.err && $B mount -t myfs {opts}myfs {mnt} 2>>$CTL/myfs.err "
            "|| { note 'fail myfs-mount'; $B rmmod myfs; finish; }",
        ]
    assignments = " ".join(f"{q(k)}={q(v)}" for k, v in env.items()) + ' READPATH_DRIVES="$RP_DRIVES"'
    argv = " ".join(q(a) for a in command)
    lines += [
        f"say start-{nonce}",
        f"( cd {q(cwd)} 2>/dev/null || cd /; exec $B env -i {assignments} {argv} ) "
        "</dev/null >/dev/ttyS1 2>&1",
        "rc=$?",
        f"say done-{nonce}",
        'note "command $rc"',
        "$B kill -KILL -1 2>/dev/null",  # leftovers would keep myfs busy
    ]
    if myfs:
        mnt = q(myfs)
        lines += [
            # the command may have unmounted it already (a remount myfs refused)
            f"n=0; while $B grep -q ' {mnt} ' /proc/mounts && ! $B umount {mnt} 2>>$CTL/myfs.err; do n=$((n+1)); "
            "[ $n -ge 30 ] && { note 'fail myfs-umount'; finish; }; $B sleep 0.1; done",
            "$B rmmod myfs 2>>$CTL/myfs.err || note 'fail myfs-unload'",
        ]
    lines.append("finish")
    return "\n".join(lines) + "\n"


# Guest mounts that hide the host's directories beneath them.
GUEST_TMPFS = ("/tmp", "/var/tmp", "/mnt", "/dev/shm", "/run")


def _visible_paths():
    """Host directories the guest must see at their host path although a guest tmpfs
    (/tmp, /mnt, ...) covers them: the checkout, the build tree and readpath's cache when
    they live there (CI may clone under /tmp). Elsewhere the 9p root already shows them."""
    wanted = {Path(p).resolve() for p in (paths.REPO, paths.build_dir(), paths.cache_dir())}
    hidden = [p for p in wanted if p.is_dir() and any(p.is_relative_to(t) for t in GUEST_TMPFS)]
    result = []
    for path in sorted(hidden, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(r) for r in result):
            result.append(path)
    return result


def _trouble(log: str):
    """The kernel log from its first panic/Oops/BUG/WARNING line, or None."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if TROUBLE.search(line):
            return re.sub(r"^\[\s*[\d.]+\]\s*", "", line.strip()), "\n".join(lines[i:i + TAIL_LINES])
    return None


def _tail(log: str):
    return "\n".join(log.splitlines()[-TAIL_LINES:])


def _keep_log(release, console):
    """Save a failed guest's console log where the user can read all of it."""
    path = paths.cache_dir("logs") / f"{release}-last-failure.log"
    path.write_text(console)
    return path


def _remove_stale_temporaries():
    """Remove the temporary directories of runs whose process was SIGKILLed (their QEMU
    died with them, but no cleanup ran); the name carries the owner's pid."""
    for path in Path(tempfile.gettempdir()).glob("readpath-vm-*-*"):
        pid = path.name.split("-")[2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


class BootTrouble(RunError):
    """The guest kernel reported trouble while it booted, before myfs loaded and the
    command started: nothing under test ran, so the boot can be tried again."""


def _command_status(kernel, log, ctl: Path, qemu_err: Path, qemu_exit, guest_ready) -> int:
    """The command's exit status, once the guest has shut down; RunError if the kernel
    reported trouble (BootTrouble if the guest was not yet `guest_ready`: myfs and the
    command had not started), a myfs step failed, or the guest never got as far as the
    status."""
    dmesg = (ctl / "dmesg").read_text(errors="replace") if (ctl / "dmesg").is_file() else ""
    status = (ctl / "status").read_text().split("\n") if (ctl / "status").is_file() else []
    trouble = _trouble(log) or _trouble(dmesg)
    if trouble:
        path = _keep_log(kernel.release, log + "\n--- dmesg ---\n" + dmesg)
        error = RunError if guest_ready else BootTrouble
        raise error(f"guest kernel {kernel.release} reported trouble"
                    f"{'' if guest_ready else ' while it booted'}: {trouble[0]} "
                    f"(full log: {path}). Kernel log from there:\n{trouble[1]}")
    failures = [line[5:] for line in status if line.startswith("fail ")]
    if failures:
        detail = "; ".join((ctl / name).read_text(errors="replace").strip()
                           for name in ("myfs.err", "drives.err") if (ctl / name).is_file())
        raise RunError(f"guest on {kernel.release}: {', '.join(failures)} failed"
                       + (f": {detail}" if detail else "") + "\nKernel log tail:\n" + _tail(dmesg))
    codes = [line.split()[1] for line in status if line.startswith("command ")]
    if codes:
        return int(codes[0])
    init_fail = re.search(r"readpath-init: FAILED: (.*)", log)
    err = qemu_err.read_text(errors="replace").strip() if qemu_err.is_file() else ""
    path = _keep_log(kernel.release, log)
    reason = init_fail.group(1).strip() if init_fail else \
        f"the guest stopped before reporting the command's status (QEMU exit {qemu_exit}" \
        + (f": {err}" if err else "") + ")"
    raise RunError(f"guest on {kernel.release}: {reason} (full log: {path}). "
                   "Kernel log tail:\n" + _tail(log))


def check_drive(path) -> Path:
    """A host file (or block device) to attach as a virtio-blk disk, checked: it exists,
    is readable and writable, its size is a whole number of 512-byte sectors, and its
    filesystem accepts O_DIRECT. QEMU opens it with cache=none (O_DIRECT), so the guest's
    reads reach the disk under the host's page cache, never a copy in it; where O_DIRECT is
    refused, cache=none cannot work and a cached fallback would measure the host's page
    cache, so this fails instead of falling back."""
    path = Path(path).resolve()
    try:
        fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    except FileNotFoundError:
        raise UsageError(f"drive {path}: no such file (create it first, e.g. "
                         f"truncate -s 64M {path})") from None
    except IsADirectoryError:
        raise UsageError(f"drive {path} is a directory; give a file or a block device") from None
    except OSError as err:
        if err.errno == errno.EINVAL:
            raise UsageError(f"drive {path}: its filesystem refuses O_DIRECT, which QEMU's "
                             "cache=none needs to bypass the host page cache; put the file on "
                             "one that supports it (ext4, xfs, btrfs)") from None
        raise UsageError(f"drive {path}: {err.strerror}") from None
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)
    if size == 0 or size % 512:
        raise UsageError(f"drive {path}: its size ({size} bytes) must be a positive multiple of 512")
    return path


def drive_args(drives):
    """QEMU arguments attaching each checked host file as a virtio-blk disk with serial
    rp_d<i>: raw, host page cache bypassed (cache=none), I/O in QEMU's thread pool."""
    argv = []
    for i, path in enumerate(drives):
        name = str(path).replace(",", ",,")  # QEMU's option syntax escapes commas by doubling
        argv += ["-drive", f"file={name},if=none,format=raw,cache=none,aio=threads,id=rp_d{i}",
                 "-device", f"virtio-blk-pci,drive=rp_d{i},serial=rp_d{i}"]
    return argv


def run_in_vm(kernel, command, *, cpus=None, mem="2G", accel="auto", myfs=None,
              myfs_opts=None, out=None, timeout=600, topology=None, env=None, append=None,
              drives=None, echo=True, icount=False) -> VmResult:
    """Boot `kernel` in QEMU, run `command` (an argv list) in it, and return a VmResult.

    kernel: a spec for resolve_kernel() (`6.1`, `6.12`, `6.12.117+deb12-amd64`, an image
        path) or the Kernel it returns.
    cpus, mem: guest CPUs (default 2, or what `topology` implies) and memory (`2G`, `512M`).
    accel: `auto` (KVM if a probe boot under it works on this machine, else TCG), `kvm`,
        `tcg`. The guest sees it as $READPATH_ACCEL; the result records it.
    myfs, myfs_opts: mount point and mount options; myfs.ko is built for the kernel
        (build_myfs), loaded and mounted before the command, unmounted and unloaded after.
    out: host directory that receives what the guest writes under $READPATH_OUT.
    timeout: seconds for the whole run, boot included.
    topology: `sockets=S,cores=C,threads=T,nodes=N` (any subset; see parse_topology).
    env: extra environment for the command. The guest environment is otherwise clean:
        PATH, HOME, TERM=dumb, READPATH_OUT, READPATH_ACCEL, READPATH_GUEST=1 and the
        host's READPATH_* variables (READPATH_BUILD_DIR, ...).
    append: extra kernel command-line arguments, a string such as `nokaslr
        transparent_hugepage=never`. They follow readpath's own (KERNEL_ARGS), so where a
        parameter takes one value, the appended one wins (e.g. loglevel=7).
    drives: host files (or block devices) attached as virtio-blk disks, in order
        (check_drive: each must exist, be a multiple of 512 bytes, and sit on a filesystem
        that accepts O_DIRECT). QEMU opens them with cache=none, so the guest's reads reach
        the file beneath the host page cache; the guest writes them for real. The command
        finds their device nodes, in the order given, in $READPATH_DRIVES (space-separated,
        e.g. `/dev/vda /dev/vdb`; empty without drives).
    icount: under TCG, load the readpath_icount plugin (tools/icount/, built in the build
        tree) and set $READPATH_ICOUNT, the file through which it answers, so that
        readpath_bench counts the instructions of its timed passes. Under KVM nothing is
        counted ($READPATH_ICOUNT stays unset).
    echo: stream the command's output to our stdout as it arrives, and say on stderr
        what is being built and booted.

    The guest sees the host root (9p, read-only) under a writable tmpfs overlay: what it
    writes anywhere (the build tree, ~/.cache, /etc) lives in guest memory and is gone
    at shutdown; the host's files are never written. /tmp, /var/tmp, /mnt, /dev/shm and
    /run are tmpfs of their own; the checkout, build tree and readpath cache are at
    their host paths (writable the same way) even when they lie under one of them. The
    command runs as root in the host's current directory when the guest sees it (else
    in /), with stdin empty. Without `out`, $READPATH_OUT is a tmpfs directory that is
    discarded. The kernel's modules can be modprobed in the guest: those of a kernel
    installed on the host, and those of one fetched from Debian's newer suites.
    When the command exits, processes it left behind are killed, then myfs is unmounted.

    Raises RunError (message and kernel log) on a panic, Oops, BUG or WARNING in the
    guest kernel, on a failed myfs load/mount/unmount/unload, a drive that did not appear,
    or on timeout; a kernel that reports trouble while it boots (before myfs and the
    command) is booted once more first, saying so on stderr. A non-zero
    exit of the command itself is returned in .returncode, not raised.
    """
    if isinstance(command, str) or not command or not all(isinstance(a, str) for a in command):
        raise UsageError("the guest command must be a non-empty list of strings, e.g. ['uname', '-r']")
    if shutil.which(qemu.QEMU) is None:
        packages.ensure(["qemu-system-x86"], "readpath vm")
    if not isinstance(kernel, kernels.Kernel):
        kernel = kernels.resolve_kernel(kernel)
    mem_mib = qemu.parse_mem(mem)
    ncpus, smp_args = qemu.parse_topology(topology, cpus, mem_mib)
    if myfs and not os.path.isabs(myfs):
        raise UsageError(f"--myfs wants an absolute mount point such as /mnt/myfs, not {myfs!r}")
    drive_paths = [check_drive(d) for d in (drives or [])]
    if timeout is None or timeout <= 0:
        raise UsageError("the timeout must be a positive number of seconds")
    if append is not None and (not isinstance(append, str) or "\n" in append):
        raise UsageError("the extra kernel arguments must be one line of text, e.g. 'nokaslr loglevel=7'")
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if echo else (lambda msg: None)
    myfs_ko = kernels.build_myfs(kernel, say) if myfs else None
    initrd = initramfs.initramfs_for(kernel)
    accel = qemu.choose_accel(accel, kernel, initrd, log=say)
    out_dir = Path(out).resolve() if out else None
    if out_dir:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"cannot create --out directory {out}: {err.strerror}") from None

    guest_env = {"PATH": GUEST_PATH, "HOME": os.environ.get("HOME", "/root"), "TERM": "dumb",
                 "LANG": os.environ.get("LANG", "C.UTF-8")}
    guest_env.update({k: v for k, v in os.environ.items() if k.startswith("READPATH_")})
    guest_env.update(READPATH_OUT="/run/readpath/out", READPATH_ACCEL=accel, READPATH_GUEST="1")
    guest_env.pop("READPATH_ICOUNT", None)  # the host's would name no file of this guest
    plugin = icount_plugin() if icount and accel == "tcg" else None
    if plugin:
        guest_env["READPATH_ICOUNT"] = f"/run/readpath/ctl/{ICOUNT_FILE}"
    guest_env.update({str(k): str(v) for k, v in (env or {}).items()})

    boot = _Boot(kernel=kernel, command=list(command), env=guest_env, out_dir=out_dir,
                 myfs=myfs, myfs_opts=myfs_opts, myfs_ko=myfs_ko, drives=drive_paths,
                 accel=accel, mem_mib=mem_mib, ncpus=ncpus, smp_args=smp_args, initrd=initrd,
                 append=append, plugin=plugin, timeout=timeout, echo=echo)
    # A kernel that crashes while it boots has run nothing under test (myfs, the command):
    # under TCG a boot has been seen to die once in dozens (an int3 Oops at 1.9 s while the
    # kernel patched its own text, 6.12), so such a boot is tried once more, saying so; a
    # second one is the kernel's trouble and fails the run.
    try:
        return _boot_and_run(boot, say)
    except BootTrouble as err:
        say(f"readpath vm: {str(err).splitlines()[0]}; booting it once more")
    return _boot_and_run(boot, say)


@dataclass
class _Boot:
    """What run_in_vm resolved for one boot: the kernel and its initramfs, QEMU's
    accelerator and machine, the guest script's inputs and the limits."""
    kernel: kernels.Kernel
    command: list
    env: dict
    out_dir: Path | None
    myfs: str | None
    myfs_opts: str | None
    myfs_ko: Path | None
    drives: list
    accel: str
    mem_mib: int
    ncpus: int
    smp_args: list
    initrd: Path
    append: str | None
    plugin: Path | None
    timeout: float
    echo: bool


def _boot_and_run(boot: _Boot, say) -> VmResult:
    """One boot of run_in_vm: QEMU started, the command run, its status read."""
    kernel, out_dir, accel, timeout = boot.kernel, boot.out_dir, boot.accel, boot.timeout
    nonce = secrets.token_hex(6)
    shares = [(f"rp_p{i}", str(p)) for i, p in enumerate(_visible_paths())]
    _remove_stale_temporaries()
    tmp = Path(tempfile.mkdtemp(prefix=f"readpath-vm-{os.getpid()}-"))
    proc = None
    listeners, readers = [], []
    try:
        ctl = tmp / "ctl"
        ctl.mkdir()
        # modprobe in the guest looks in /lib/modules/<release>: a fetched kernel's tree
        # (vm/debian.py) is shown there; the host's own kernels are there already.
        own_modules = Path("/lib/modules") / kernel.release
        foreign_modules = kernel.modules.is_dir() and (
            not own_modules.is_dir() or own_modules.resolve() != kernel.modules.resolve())
        (ctl / "guest.sh").write_text(_guest_script(
            nonce=nonce, shares=shares, out_share=out_dir is not None, myfs=boot.myfs,
            myfs_opts=boot.myfs_opts, command=boot.command, env=boot.env, cwd=os.getcwd(),
            drives=len(boot.drives), modules=str(own_modules) if foreign_modules else None))
        if boot.myfs_ko:
            shutil.copy(boot.myfs_ko, ctl / "myfs.ko")
        fsdevs = [("rp_root", "/", True), ("rp_ctl", str(ctl), False)]
        fsdevs += [(tag, path, True) for tag, path in shares]
        if foreign_modules:
            fsdevs.append(("rp_mods", str(kernel.modules), True))
        if out_dir:
            fsdevs.append(("rp_out", str(out_dir), False))
        argv = [*qemu.base_args(accel), "-m", str(boot.mem_mib), *boot.smp_args,
                "-kernel", str(kernels.boot_image(kernel, say)), "-initrd", str(boot.initrd),
                "-append", " ".join(KERNEL_ARGS + ([boot.append] if boot.append else []))]
        if boot.plugin:
            argv += ["-plugin", f"file={boot.plugin},out={ctl / ICOUNT_FILE}"]
        for tag, path, readonly in fsdevs:
            argv += ["-fsdev", f"local,id={tag},path={path},security_model=none,multidevs=remap"
                               + (",readonly=on" if readonly else ""),
                     "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]
        argv += drive_args(boot.drives)
        for name in ("console", "output"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(tmp / f"{name}.sock"))
            sock.listen(1)
            listeners.append(sock)
            argv += ["-chardev", f"socket,id={name},path={tmp / f'{name}.sock'}",
                     "-serial", f"chardev:{name}"]

        def show(data):
            try:
                stream = getattr(sys.stdout, "buffer", None)
                if stream is None:  # a text-only stdout (some test harnesses)
                    sys.stdout.write(data.decode(errors="replace"))
                    sys.stdout.flush()
                else:
                    stream.write(data)
                    stream.flush()
            except (BrokenPipeError, ValueError):  # `| head` closed it; keep collecting
                output.on_data = None

        console = _ConsoleReader(listeners[0], nonce)
        output = _Reader(listeners[1], show if boot.echo else None)
        readers = [console, output]
        say(f"readpath vm: booting {kernel.release} under {accel} ({boot.ncpus} CPUs, {boot.mem_mib} MiB)")
        started = time.monotonic()
        deadline = started + timeout
        with open(tmp / "qemu.err", "wb") as qemu_err:
            proc = qemu.spawn(argv, stdout=qemu_err, stderr=qemu_err)
        for reader in readers:
            if not reader.accept(proc, started + 30):
                qemu.stop(proc)
                err = (tmp / "qemu.err").read_text(errors="replace").strip()
                raise RunError(f"QEMU did not start: {err or 'no message'}")
            reader.start()
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            qemu.stop(proc)
            for reader in readers:
                reader.join(timeout=2)
            log = console.text()
            where = ("while the command ran" if "start" in console.marks
                     else "before the command started")
            path = _keep_log(kernel.release, log)
            raise RunError(f"guest on {kernel.release} timed out after {timeout:g} s {where}; "
                           f"QEMU stopped (full console log: {path}). Kernel log tail:\n"
                           + _tail(log)) from None
        for reader in readers:
            reader.join(timeout=5)
        log = console.text()
        returncode = _command_status(kernel, log, ctl, tmp / "qemu.err", proc.returncode,
                                     guest_ready="ready" in console.marks)
        marks = console.marks
        begin, end = marks.get("start", started), marks.get("done", time.monotonic())
        return VmResult(returncode=returncode, output=output.text(), accel=accel,
                        kernel_release=kernel.release, boot_seconds=round(begin - started, 3),
                        command_seconds=round(end - begin, 3), console=log)
    finally:
        if proc is not None:
            qemu.stop(proc)
        for reader in readers:
            if reader.conn is not None:
                reader.conn.close()
        for listener in listeners:
            listener.close()
        shutil.rmtree(tmp, ignore_errors=True)
