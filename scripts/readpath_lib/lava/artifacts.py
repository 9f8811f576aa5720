"""What a LAVA device boots for readpath, written into a job's artifacts folder:

- `rootfs.cpio.gz`: a busybox ramdisk whose /init gives a root shell on the console (prompt
  PROMPT). LAVA unpacks it, adds its test overlay and the two below, and packs it again, so
  the device needs neither a disk nor a network. Any other ramdisk with a POSIX shell does
  too (`--rootfs-url`).
- `readpath.tar.xz`: /opt/readpath with readpath_bench, every library it loads and the
  loader (so it runs on any root filesystem of the same architecture, busybox's included),
  and readpath-device (device.sh), the test definition's one step.
- `<release>/modules.tar.xz`: lib/modules/<release>/extra/myfs.ko, myfs built for that kernel.
- `<release>/vmlinuz`: the kernel (for QEMU, its uncompressed PVH image when it has one:
  TCG decompresses a bzImage slowly).
"""

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from .. import packages, vm
from ..errors import RunError
from ..vm import initramfs, kernels

PROMPT = "readpath-device# "
DEVICE_SCRIPT = Path(__file__).with_name("device.sh")
PAYLOAD_ROOT = "opt/readpath"

INIT = f"""#!/bin/busybox sh
# readpath's LAVA ramdisk: busybox, a root shell on the console, nothing else.
/bin/busybox mkdir -p /proc /sys /dev /tmp /root /sbin /usr/bin /usr/sbin /mnt
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname readpath-device
echo "readpath ramdisk: $(uname -r), shell on the console"
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PS1='{PROMPT}'
while true; do setsid cttyhack sh; done
"""


def rootfs(folder: Path) -> Path:
    """folder/rootfs.cpio.gz, the busybox ramdisk."""
    cpio = initramfs._Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "root", "mnt", "etc"):
        cpio.directory(d)
    cpio.char_device("dev/console", 5, 1)
    cpio.file("bin/busybox", initramfs._busybox().read_bytes(), 0o755)
    cpio.file("init", INIT.encode(), 0o755)
    cpio.file("etc/hostname", b"readpath-device\n")
    target = folder / "rootfs.cpio.gz"
    # mtime 0: the same inputs give the same bytes, so a lab's checksums stay put.
    target.write_bytes(gzip.compress(cpio.bytes(), mtime=0))
    return target


def _libraries(binary: Path):
    """The shared libraries `binary` loads and its loader, as ldd resolves them here."""
    probe = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if probe.returncode != 0:
        raise RunError(f"ldd {binary} failed: {probe.stderr.strip() or probe.stdout.strip()}")
    libs, loader = [], None
    for line in probe.stdout.splitlines():
        match = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if not match:
            continue   # linux-vdso
        path = Path(match.group(1))
        if "ld-linux" in path.name:
            loader = path
        else:
            libs.append(path)
    if loader is None:
        raise RunError(f"{binary} has no dynamic loader in its ldd output; cannot pack it")
    return libs, loader


def _add(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_dirs(tar, path):
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        info = tarfile.TarInfo("/".join(parts[:i]))
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(info)


def payload(folder: Path, bench: Path) -> Path:
    """folder/readpath.tar.xz: readpath_bench, its libraries and loader, readpath-device."""
    libs, loader = _libraries(bench)
    target = folder / "readpath.tar.xz"
    with tarfile.open(target, "w:xz", preset=6) as tar:
        _add_dirs(tar, f"{PAYLOAD_ROOT}/bin")
        _add_dirs(tar, f"{PAYLOAD_ROOT}/lib")
        _add(tar, f"{PAYLOAD_ROOT}/bin/readpath_bench", bench.read_bytes(), 0o755)
        _add(tar, f"{PAYLOAD_ROOT}/bin/readpath-device", DEVICE_SCRIPT.read_bytes(), 0o755)
        _add(tar, f"{PAYLOAD_ROOT}/lib/ld-linux-x86-64.so.2", loader.resolve().read_bytes(), 0o755)
        for lib in libs:
            _add(tar, f"{PAYLOAD_ROOT}/lib/{lib.name}", lib.resolve().read_bytes())
    return target


def kernel_files(folder: Path, kernel, device_type, log=lambda msg: None):
    """folder/<release>/{vmlinuz,modules.tar.xz} for a vm.Kernel: its image and myfs built
    for it. Returns (kernel image, modules archive)."""
    where = folder / kernel.release
    where.mkdir(parents=True, exist_ok=True)
    ko = vm.build_myfs(kernel, log)
    modules = where / "modules.tar.xz"
    with tarfile.open(modules, "w:xz", preset=6) as tar:
        _add_dirs(tar, f"lib/modules/{kernel.release}/extra")
        _add(tar, f"lib/modules/{kernel.release}/extra/myfs.ko", Path(ko).read_bytes())
    image = kernels.boot_image(kernel, log) if device_type == "qemu" else kernel.image
    target = where / "vmlinuz"
    target.unlink(missing_ok=True)
    try:
        os.link(image, target)   # a PVH image is tens of MiB; share it where we can
    except OSError:
        shutil.copyfile(image, target)
    return target, modules


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_tools():
    """What building the artifacts needs on this host."""
    packages.ensure(["busybox-static", "xz-utils", "gcc", "make"], "building LAVA artifacts")
