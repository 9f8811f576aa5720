"""The guest's first stage: a small initramfs per kernel holding busybox, the 9p, virtio
and overlay modules in dependency order (from modules.dep, decompressed) and /init, which
mounts the host root read-only over 9p, lays a tmpfs over it with overlayfs (the guest's
writable root; the host's files are never written) and hands over to the per-run script."""

import hashlib
import lzma
import os
import subprocess
import time
from pathlib import Path

from .. import packages, paths
from ..errors import RunError

# What the guest needs before it can see the host: PCI virtio transport and 9p over it,
# and overlayfs for a writable root over the read-only host root.
NEEDED_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]
FORMAT = 4  # bump when the layout or /init changes, to drop cached images
# A cached image unused this long is dropped when another is built; one used more lately
# may belong to another checkout of readpath that is booting with it right now.
UNUSED_SECONDS = 3600

# Options of every overlayfs that lays a tmpfs over a read-only 9p share (as virtme-ng's
# --overlay-rwdir); xino=off as there: QEMU's remapped 9p inode numbers may use all 64
# bits, leaving overlayfs none to mark its layers in.
OVERLAY = "xino=off"

INIT = r"""#!/bin/busybox sh
# readpath guest stage 1: load 9p and overlay, mount the host root read-only under a tmpfs
# overlay (writes land in guest memory; virtme-ng's --overlay-rwdir, for the whole root),
# switch to the run script.
B=/bin/busybox
$B mount -t devtmpfs dev /dev
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
say() { echo "readpath-init: $*" > /dev/ttyS0; }
fail() { say "FAILED: $*"; $B reboot -f; }
if $B grep -q readpath.probe /proc/cmdline; then
    say "probe-ok"
    $B reboot -f
fi
for m in $($B cat /modules.order); do
    $B insmod "/modules/$m" || fail "insmod $m"
done
R=/newroot
$B mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose rp_root /host \
    || fail "cannot mount the host root over 9p"
$B mount -t tmpfs -o mode=0755 rw /rw && $B mkdir /rw/upper /rw/work \
    || fail "cannot mount the tmpfs for the writable root"
$B mount -t overlay -o OVERLAY,lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work root $R \
    || fail "cannot mount the writable root (overlayfs over the host root)"
$B mount -t tmpfs -o mode=0755 run $R/run || fail "cannot mount tmpfs on /run"
$B mkdir -p $R/run/readpath/ctl
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 rp_ctl $R/run/readpath/ctl \
    || fail "cannot mount the control share"
$B cp $B $R/run/readpath/busybox
for d in dev proc sys; do $B mount --move /$d $R/$d; done
exec $B switch_root $R /run/readpath/busybox sh /run/readpath/ctl/guest.sh
""".replace("OVERLAY,", OVERLAY + ",")


def _module_index(modules_dir: Path):
    """name → (relative path, [dependency paths]) from modules.dep."""
    index = {}
    dep = modules_dir / "modules.dep"
    for line in dep.read_text().splitlines():
        if ":" not in line:
            continue
        path, deps = line.split(":", 1)
        name = os.path.basename(path).split(".ko")[0].replace("-", "_")
        index[name] = (path, deps.split())
    return index


def _builtin(modules_dir: Path):
    builtin = modules_dir / "modules.builtin"
    if not builtin.is_file():
        return set()
    return {os.path.basename(line).split(".ko")[0].replace("-", "_")
            for line in builtin.read_text().split()}


def module_load_order(modules_dir: Path, wanted=NEEDED_MODULES):
    """Relative module paths to insmod, each after its dependencies; built-ins skipped."""
    if not (modules_dir / "modules.dep").is_file():
        return []  # a self-built kernel without modules: 9p and overlayfs must be built in
    index, builtin = _module_index(modules_dir), _builtin(modules_dir)
    by_path = {path: name for name, (path, _) in index.items()}
    order = []

    def visit(path):
        if path in order:
            return
        for dep in index[by_path[path]][1]:
            visit(dep)
        order.append(path)

    # Debian's 7.x packages ship no modules.builtin: a wanted module missing from
    # modules.dep is then taken as built in (if it is not, /init says which mount failed).
    no_builtin_list = not (modules_dir / "modules.builtin").is_file()
    for name in wanted:
        if name in builtin or (no_builtin_list and name not in index):
            continue
        if name not in index:
            raise RunError(f"kernel modules in {modules_dir} lack {name}, which the guest needs "
                           "to see the host; use a kernel with 9p, virtio and overlayfs "
                           "(the -cloud flavour has no 9p)")
        visit(index[name][0])
    return order


def _read_module(path: Path) -> bytes:
    """A module's ELF bytes, whatever compression the distribution chose."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".zst":
        packages.ensure(["zstd"], "reading zstd-compressed kernel modules")
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    if path.suffix == ".gz":
        import gzip
        return gzip.decompress(data)
    return data


class _Cpio:
    """Writes the newc cpio format the kernel unpacks an initramfs from."""

    def __init__(self):
        self.parts = []
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(name) + 1, 0]
        header = b"070701" + b"".join(b"%08x" % f for f in fields)
        self.ino += 1
        blob = header + name.encode() + b"\0"
        blob += b"\0" * (-len(blob) % 4) + data
        self.parts.append(blob + b"\0" * (-len(blob) % 4))

    def directory(self, name):
        self._entry(name, 0o040755)

    def char_device(self, name, major, minor):
        self._entry(name, 0o020600, rdev=(major, minor))

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def bytes(self):
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def _busybox() -> Path:
    packages.ensure(["busybox-static"], "the guest's initramfs")
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return Path(candidate)
    raise RunError("busybox-static is installed but /bin/busybox is missing; reinstall busybox-static")


def initramfs_for(kernel) -> Path:
    """The cached initramfs for `kernel`, built on first use or when its inputs change."""
    busybox = _busybox()
    order = module_load_order(kernel.modules)
    digest = hashlib.sha256(f"{FORMAT}\0{INIT}\0{busybox.stat().st_size}".encode())
    for rel in order:
        st = (kernel.modules / rel).stat()
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    cache = paths.cache_dir("initramfs", kernel.release)
    image = cache / f"initramfs-{digest.hexdigest()[:16]}.cpio"
    if image.is_file():
        os.utime(image)  # in use: see UNUSED_SECONDS
        return image
    cpio = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "host", "rw", "newroot", "modules"):
        cpio.directory(d)
    cpio.char_device("dev/console", 5, 1)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.file("init", INIT.encode(), 0o755)
    names = []
    for rel in order:
        name = os.path.basename(rel).split(".ko")[0] + ".ko"
        cpio.file(f"modules/{name}", _read_module(kernel.modules / rel))
        names.append(name)
    cpio.file("modules.order", ("\n".join(names) + "\n").encode())
    for old in cache.glob("initramfs-*"):
        try:
            if time.time() - old.stat().st_mtime > UNUSED_SECONDS:
                old.unlink()
        except FileNotFoundError:
            pass
    tmp = cache / f".{image.name}.{os.getpid()}.tmp"
    tmp.write_bytes(cpio.bytes())
    os.replace(tmp, image)
    return image
