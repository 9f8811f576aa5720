"""Starting QEMU for a guest, choosing the accelerator (probing KVM once per machine),
and the command-line pieces for memory and CPU topology."""

import ctypes
import os
import platform
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .. import children, paths
from ..errors import RunError, UsageError
from . import kernels

QEMU = "qemu-system-x86_64"
PROBE_SECONDS = 6.0  # a KVM boot to /init takes about a second; a hang never ends
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child: QEMU gets SIGKILL if readpath itself is killed, so none is left behind."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, **kwargs) -> subprocess.Popen:
    """Start QEMU in its own process group, tied to our lifetime."""
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent, **kwargs)
    except FileNotFoundError:
        raise RunError(f"{argv[0]} not found; install qemu-system-x86 "
                       "(apt-get install qemu-system-x86)") from None


def stop(proc: subprocess.Popen):
    """Stop QEMU for good: SIGTERM to its process group, SIGKILL if it lingers 3 s."""
    children.stop(proc, grace=3, group=True)


def parse_mem(mem) -> int:
    """`2G`, `512M`, `1536` (MiB) → MiB."""
    match = re.fullmatch(r"\s*(\d+)\s*([MmGg]?)(i?[Bb])?\s*", str(mem))
    if not match:
        raise UsageError(f"bad memory size {mem!r}; use e.g. 512M or 2G")
    mib = int(match.group(1)) * (1024 if match.group(2).upper() == "G" else 1)
    if mib < 256:
        raise UsageError(f"memory {mem} is too small for a guest; give at least 256M")
    return mib


TOPOLOGY_KEYS = ("sockets", "cores", "threads", "nodes")


def parse_topology(spec, cpus, mem_mib):
    """`sockets=2,cores=2,threads=1,nodes=2` → (cpu count, QEMU -smp/-numa arguments).

    Omitted keys are 1. CPUs and memory are split evenly over the NUMA nodes, CPUs in
    socket order, so node N holds sockets N*k..; nodes must divide sockets."""
    if not spec:
        count = 2 if cpus is None else cpus
        if count < 1:
            raise UsageError("--cpus must be at least 1")
        return count, ["-smp", str(count)]
    values = dict.fromkeys(TOPOLOGY_KEYS, 1)
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key.strip() not in values or not value.strip().isdigit() or int(value) < 1:
            raise UsageError(f"bad --topology item {item!r}; use e.g. "
                             "sockets=2,cores=2,threads=1,nodes=2 (each a positive number)")
        values[key.strip()] = int(value)
    count = values["sockets"] * values["cores"] * values["threads"]
    if cpus is not None and cpus != count:
        raise UsageError(f"--cpus {cpus} disagrees with --topology {spec} ({count} CPUs); "
                         "give one of them")
    nodes = values["nodes"]
    if values["sockets"] % nodes:
        raise UsageError(f"--topology: {nodes} NUMA nodes do not divide {values['sockets']} sockets")
    if mem_mib % nodes:
        raise UsageError(f"--topology: memory ({mem_mib} MiB) does not split evenly over {nodes} nodes")
    args = ["-smp", f"{count},sockets={values['sockets']},cores={values['cores']},"
                    f"threads={values['threads']}"]
    per_node = count // nodes
    for node in range(nodes):
        args += ["-object", f"memory-backend-ram,id=mem{node},size={mem_mib // nodes}M",
                 "-numa", f"node,nodeid={node},cpus={node * per_node}-{(node + 1) * per_node - 1},"
                          f"memdev=mem{node}"]
    return count, args


def base_args(accel: str):
    """QEMU without defaults: q35 (its PCIe/MSI setup boots faster than i440fx under TCG),
    no display, and exit instead of rebooting (the guest ends with reboot -f)."""
    argv = [QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-machine", "q35"]
    if accel == "kvm":
        return argv + ["-accel", "kvm", "-cpu", "host"]
    return argv + ["-accel", "tcg,thread=multi", "-cpu", "max"]


def _verdict_file() -> Path:
    machine = "unknown"
    for source in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine = Path(source).read_text().strip() or machine
            break
        except OSError:
            continue
    return paths.cache_dir("accel") / f"kvm-{machine}-{platform.release()}"


def choose_accel(requested: str, kernel, initrd: Path, log=print) -> str:
    """`kvm` or `tcg`. `auto` uses KVM only when a short probe boot under it reaches /init;
    the verdict is remembered per machine (and host kernel) in the cache directory."""
    if requested not in ("auto", "kvm", "tcg"):
        raise UsageError(f"bad --accel {requested!r}; use auto, kvm or tcg")
    usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
    if requested == "kvm" and not usable:
        raise UsageError("--accel kvm: /dev/kvm is missing or not accessible; use --accel tcg")
    verdict = _verdict_file()
    known = verdict.read_text().strip() if verdict.is_file() else ""
    if requested == "kvm" and known == "tcg":
        log(f"readpath vm: warning: a probe found that kernels hang under KVM on this machine "
            f"({verdict}); expect the --timeout to end this run")
    if requested != "auto":
        return requested
    if not usable:
        return "tcg"
    if known in ("kvm", "tcg"):
        return known
    log(f"readpath vm: probing KVM with a {PROBE_SECONDS:.0f} s boot (once per machine)")
    result = "kvm" if probe_kvm(kernels.boot_image(kernel), initrd) else "tcg"
    verdict.write_text(result + "\n")
    log(f"readpath vm: KVM {'works' if result == 'kvm' else 'does not boot a kernel here'}; "
        f"using {result} (verdict kept in {verdict})")
    return result


def probe_kvm(image: Path, initrd: Path) -> bool:
    """Boot the kernel `image` under KVM up to the initramfs's probe marker, within PROBE_SECONDS."""
    with tempfile.TemporaryDirectory(prefix="readpath-kvm-probe-") as tmp:
        log = Path(tmp) / "console.log"
        argv = [*base_args("kvm"), "-m", "256", "-smp", "1",
                "-kernel", str(image), "-initrd", str(initrd),
                "-append", "console=ttyS0 panic=-1 quiet readpath.probe",
                "-serial", f"file:{log}"]
        proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + PROBE_SECONDS
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if log.is_file() and b"probe-ok" in log.read_bytes():
                    return True
                time.sleep(0.1)
            return log.is_file() and b"probe-ok" in log.read_bytes()
        finally:
            stop(proc)
