"""Debian packages readpath needs, installed on demand when running as root."""

import os
import shlex
import subprocess

from .errors import UsageError

# What building and running the host-side suite needs.
BUILD = ["cmake", "g++", "make", "pkg-config", "git", "libbenchmark-dev", "libgtest-dev",
         "liburing-dev", "libhwloc-dev"]
PYTHON = ["python3-matplotlib", "python3-scipy", "python3-pytest", "python3-yaml"]
PEERS = ["fio", "stress-ng"]
# What booting kernels in QEMU needs (kernel images and headers are added per kernel).
VM = ["qemu-system-x86", "busybox-static", "cpio", "kmod", "xz-utils", "zstd", "gcc", "make"]
# What running readpath's LAVA jobs here needs (`readpath lava run`, its end-to-end test).
LAVA = ["lava-dispatcher", "lavacli"]

_updated = False


def missing(packages):
    """The packages of the list that dpkg does not report as installed (one dpkg query)."""
    if not packages:
        return []
    probe = subprocess.run(["dpkg-query", "-W", "-f=${Package}:${Status}\n", *packages],
                           capture_output=True, text=True)
    installed = {line.split(":", 1)[0] for line in probe.stdout.splitlines()
                 if line.endswith("install ok installed")}
    # dpkg prints a multi-arch name without its :arch; match on the bare name.
    return [name for name in packages if name.split(":", 1)[0] not in installed]


def ensure(packages, why="readpath"):
    """Install whatever of `packages` is missing, or say exactly how to when not root."""
    global _updated
    absent = missing(packages)
    if not absent:
        return
    line = "apt-get install -y --no-install-recommends " + " ".join(shlex.quote(p) for p in absent)
    if os.geteuid() != 0:
        raise UsageError(f"{why} needs Debian packages that are not installed; run as root:\n"
                         f"  apt-get update && {line}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if any(name.startswith("linux-image-") for name in absent):
        # readpath boots kernels with its own initramfs (vm/initramfs.py): spare the
        # initramfs-tools hook its initrd (~30 MB, 20-40 s, built twice in a fresh root).
        env["INITRD"] = "No"
    print(f"readpath: installing for {why}: {' '.join(absent)}", flush=True)
    if not _updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        _updated = True
    result = subprocess.run(shlex.split(line), env=env, stdout=subprocess.DEVNULL)
    if result.returncode != 0 or missing(absent):
        raise UsageError(f"could not install {' '.join(absent)}; try by hand:\n"
                         f"  apt-get update && {line}")
