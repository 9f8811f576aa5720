"""Which kernel a spec names (`6.1`, `6.12`, a newer series such as `7.3`, a Debian
release, a bzImage path) and building out-of-tree modules (myfs) against that kernel's
headers, cached per kernel."""

import gzip
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import packages, paths
from ..errors import RunError, UsageError
from . import debian

# Series this host's apt installs (bookworm) → their package release pattern. Any other
# series (`7.3`) or release (`7.3.4+deb13-amd64`) comes from Debian's newer suites
# (debian.py): fetched into the cache, never installed on the host; so does 6.12 where the
# host's apt sources lack bookworm-security (a root made by debootstrap has only `main`).
SERIES = {
    "6.1": re.compile(r"6\.1\.0-\d+-amd64"),
    "6.12": re.compile(r"6\.12\.\d+\+deb12-amd64"),
}
BOOT = Path("/boot")


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel: its `uname -r`, image, headers (for modules) and modules tree."""

    release: str
    image: Path
    headers: Path
    modules: Path  # /lib/modules/<release>; may not exist for a self-built kernel
    debian: bool   # image and headers come from linux-image-/linux-headers-<release>
    # A Debian kernel from a newer suite: the cached root (debian.py) whose chroot holds
    # its headers and compiler; `headers` lies inside it. None: build on the host.
    build_root: Path = None


def version_key(release: str):
    """Sort key for releases: numeric fields compare as numbers (6.1.0-9 < 6.1.0-56)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", release)]


def _installed_releases():
    return [p.name[len("vmlinuz-"):] for p in BOOT.glob("vmlinuz-*")]


def _installable_releases(prefix: str):
    """Releases apt knows a linux-image package for (local apt cache, no network)."""
    if not shutil.which("apt-cache"):
        return []
    probe = subprocess.run(["apt-cache", "pkgnames", f"linux-image-{prefix}"],
                           capture_output=True, text=True)
    return [name[len("linux-image-"):] for name in probe.stdout.split()]


def _debian(release: str) -> Kernel:
    return Kernel(release=release, image=BOOT / f"vmlinuz-{release}",
                  headers=Path(f"/usr/src/linux-headers-{release}"),
                  modules=Path(f"/lib/modules/{release}"), debian=True)


def _say(msg):
    print(msg, file=sys.stderr, flush=True)


def _newer_debian(release: str) -> Kernel:
    """A release from debian.py's suites: image and modules unpacked in the cache;
    headers in the build root of its suite (made when a module is first built)."""
    image, modules = debian.fetch_kernel(release, log=_say)
    root = debian.build_root_dir(debian.suite_of(release))
    return Kernel(release=release, image=image, modules=modules, debian=True, build_root=root,
                  headers=root / "usr" / "src" / f"linux-headers-{release}")


def _series_elsewhere(spec, pattern) -> Kernel:
    """A bookworm series the host's apt does not know (6.12 without bookworm-security in
    its sources): the newest release of it debian.py's suites serve, fetched like theirs."""
    try:
        found = [r for r in debian.available(spec) if pattern.fullmatch(r)]
    except RunError as err:
        raise UsageError(f"no linux-image package of the {spec} series is installed or known "
                         f"to apt, and Debian's index could not be read: {err}") from None
    if not found:
        raise UsageError(f"no linux-image package of the {spec} series is installed or known "
                         f"to apt or served by {', '.join(debian.SUITES)}; run `apt-get update` "
                         "or name a release")
    return _newer_debian(max(found, key=version_key))


def running_kernel(release: str) -> Kernel:
    """The kernel this machine runs, for building modules to load here: its headers at
    /lib/modules/<release>/build, or, when there are none and it is a kernel from Debian's
    newer suites whose build root readpath has made (as in a readpath guest, which sees the
    host's cache), that build root."""
    headers = Path(f"/lib/modules/{release}/build")
    image = Path(f"/boot/vmlinuz-{release}")
    kernel = Kernel(release=release, image=image, headers=headers,
                    modules=Path(f"/lib/modules/{release}"),
                    debian=image.is_file() and release.endswith("-amd64"))
    if (headers / "Makefile").is_file() or not debian.RELEASE.fullmatch(release):
        return kernel
    for root in sorted(paths.cache_dir("debian", "buildroot").iterdir()):
        inside = root / "usr" / "src" / f"linux-headers-{release}"
        if (inside / "Makefile").is_file():
            return Kernel(release=release, image=image, headers=inside, modules=kernel.modules,
                          debian=True, build_root=root)
    return kernel


def _image_release(image: Path) -> str:
    """The `uname -r` a bzImage will report, read from its setup header (x86 boot protocol)."""
    try:
        with open(image, "rb") as f:
            head = f.read(0x10000)
    except OSError as err:
        raise UsageError(f"cannot read kernel image {image}: {err.strerror}") from None
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        raise UsageError(f"{image} is not an x86 bzImage/vmlinuz; pass a bootable kernel image")
    offset = int.from_bytes(head[0x20E:0x210], "little") + 0x200
    text = head[offset:offset + 256].split(b"\0")[0].decode(errors="replace")
    if not text:
        raise UsageError(f"{image} has no version string; pass a bootable kernel image")
    return text.split()[0]


def resolve_kernel(spec: str, kdir=None) -> Kernel:
    """The kernel `spec` names, installing its Debian image and headers when missing.

    `6.1` / `6.12`: the newest installed linux-image of that bookworm series, else the
    newest installable one. A full release (`6.12.117+deb12-amd64`): that package. A path
    to a bzImage/vmlinuz: that image, with headers from `kdir` (for building myfs).
    Unknown kernels raise UsageError (exit 2).
    """
    if "/" in spec or Path(spec).is_file():
        image = Path(spec).resolve()
        if not image.is_file():
            raise UsageError(f"kernel image {spec} does not exist")
        release = _image_release(image)
        headers = Path(kdir).resolve() if kdir else Path(f"/lib/modules/{release}/build")
        return Kernel(release=release, image=image, headers=headers,
                      modules=Path(f"/lib/modules/{release}"), debian=False)
    if kdir:
        raise UsageError("--kdir goes with --kernel PATH (a kernel image); "
                         "Debian kernels use their linux-headers package")
    if spec in SERIES:
        pattern = SERIES[spec]
        installed = [r for r in _installed_releases() if pattern.fullmatch(r)]
        if installed:
            release = max(installed, key=version_key)
        else:
            prefix = spec + (".0-" if spec == "6.1" else ".")
            candidates = [r for r in _installable_releases(prefix) if pattern.fullmatch(r)]
            if not candidates:
                return _series_elsewhere(spec, pattern)
            release = max(candidates, key=version_key)
    elif re.fullmatch(r"\d+\.\d+", spec):
        release = debian.newest(spec)
        if release is None:
            raise UsageError(f"unknown kernel series {spec!r}: Debian ({', '.join(debian.SUITES)}) "
                             f"serves no linux-image-{spec}.*-amd64 with its headers; use "
                             f"{', '.join(sorted(SERIES))}, a newer series such as 7.3, or a release")
        return _newer_debian(release)
    else:
        release = spec
        if not (BOOT / f"vmlinuz-{release}").is_file() and release not in _installable_releases(release):
            if debian.suite_of(release):
                return _newer_debian(release)
            known = ", ".join(sorted(SERIES))
            raise UsageError(f"unknown kernel {spec!r}: not installed in /boot and Debian has no "
                             f"linux-image-{spec} with its headers; use {known}, a newer series "
                             "such as 7.3, a Debian release such as 6.12.117+deb12-amd64 or "
                             "7.3.4+deb13-amd64, or --kernel PATH --kdir HEADERS")
    kernel = _debian(release)
    if not kernel.image.is_file() or not kernel.modules.is_dir():
        packages.ensure([f"linux-image-{release}", f"linux-headers-{release}"],
                        f"booting kernel {release}")
    if not kernel.image.is_file():
        raise RunError(f"linux-image-{release} is installed but {kernel.image} is missing; "
                       f"reinstall it: apt-get install --reinstall linux-image-{release}")
    return kernel


_PVH_NOTE = re.compile(rb"\x04\x00\x00\x00....\x12\x00\x00\x00Xen\x00", re.S)


def _decompress_payload(payload: bytes) -> bytes:
    if payload.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    if payload.startswith(b"\x28\xb5\x2f\xfd"):
        packages.ensure(["zstd"], "unpacking a zstd-compressed kernel")
        return subprocess.run(["zstd", "-dcq"], input=payload, capture_output=True).stdout
    if payload.startswith(b"\x1f\x8b"):
        return gzip.decompress(payload)
    return b""  # lz4, lzo, bzip2: rare; boot the bzImage as it is


def boot_image(kernel: Kernel, log=lambda msg: None) -> Path:
    """What QEMU should boot: the uncompressed vmlinux inside the bzImage when it has a PVH
    entry note (cached per kernel), else the bzImage. Under TCG the bzImage's own
    decompressor is slow (seconds for xz), and PVH entry skips it."""
    st = kernel.image.stat()
    cache = paths.cache_dir("vmlinux", kernel.release)
    key = hashlib.sha256(f"{kernel.image}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target, no_pvh = cache / f"vmlinux-{key}", cache / f"no-pvh-{key}"
    if target.is_file():
        return target
    if no_pvh.is_file():
        return kernel.image
    log(f"readpath vm: unpacking {kernel.image.name} for a direct (PVH) boot, once per kernel")
    data = kernel.image.read_bytes()
    protected = ((data[0x1F1] or 4) + 1) * 512
    offset = int.from_bytes(data[0x248:0x24C], "little")
    length = int.from_bytes(data[0x24C:0x250], "little")
    try:
        vmlinux = _decompress_payload(data[protected + offset:protected + offset + length])
    except (lzma.LZMAError, OSError, EOFError):
        vmlinux = b""
    for old in cache.iterdir():
        if not old.name.startswith("."):
            old.unlink(missing_ok=True)
    if not vmlinux.startswith(b"\x7fELF") or not _PVH_NOTE.search(vmlinux):
        no_pvh.touch()
        return kernel.image
    tmp = cache / f".{key}.{os.getpid()}.tmp"
    tmp.write_bytes(vmlinux)
    os.replace(tmp, target)
    return target


def ensure_headers(kernel: Kernel):
    """Make sure the kernel's headers exist (installing Debian's package), or explain."""
    if kernel.build_root is not None and not (kernel.headers / "Makefile").is_file():
        debian.ensure_build_root(kernel.release, log=_say)
    if (kernel.headers / "Makefile").is_file():
        return
    if kernel.debian:
        packages.ensure([f"linux-headers-{kernel.release}"], f"building modules for {kernel.release}")
    if not (kernel.headers / "Makefile").is_file():
        raise UsageError(f"no kernel headers for {kernel.release} at {kernel.headers}; "
                         "pass --kdir with the kernel's build tree")


# Files in a module source directory that are Kbuild outputs, not sources.
_BUILD_OUTPUT = re.compile(r"(\.o|\.ko|\.mod|\.mod\.c|\.cmd|\.order|\.symvers|\.a|\.d)$|^\.")


def _sources(src: Path):
    return sorted(p for p in src.rglob("*")
                  if p.is_file() and not any(_BUILD_OUTPUT.search(part) for part in p.relative_to(src).parts))


def build_module(src: Path, kernel: Kernel, name: str, log=lambda msg: None) -> Path:
    """Build the Kbuild module `name`.ko from `src` for `kernel`; cached per kernel and
    per content of `src`, so an unchanged tree is not rebuilt. Returns the .ko path."""
    src = Path(src).resolve()
    if not (src / "Makefile").is_file() and not (src / "Kbuild").is_file():
        raise RunError(f"{src} has no Makefile or Kbuild; nothing to build {name}.ko from")
    if kernel.build_root is None and (shutil.which("make") is None or shutil.which("gcc") is None):
        packages.ensure(["make", "gcc"], f"building {name}.ko")
    ensure_headers(kernel)
    # Keyed by where the headers really are, so that /lib/modules/<release>/build (how
    # `readpath run` names them on a host) and /usr/src/linux-headers-<release> share a build.
    digest = hashlib.sha256(str(kernel.headers.resolve()).encode())
    files = _sources(src)
    for path in files:
        digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()[:16]
    cache = paths.cache_dir("modules", kernel.release, name)
    tree = cache / key
    module = tree / f"{name}.ko"
    if module.is_file():
        return module
    for old in cache.iterdir():  # keep one build per module and kernel; skip builds in flight
        if not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    log(f"readpath vm: building {name}.ko from {src} for {kernel.release}")
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        for path in files:
            target = staging / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        if kernel.build_root is None:
            how = f"make -C {src} KDIR={kernel.headers}"
            build = subprocess.run(["make", "-j2", "-C", str(staging), f"KDIR={kernel.headers}"],
                                   capture_output=True, text=True)
        else:  # with the kernel's own compiler, in its suite's build root
            kdir = "/" + str(kernel.headers.relative_to(kernel.build_root))
            how = f"make -C {src} KDIR={kdir} in the chroot {kernel.build_root}"
            build = debian.chroot_run(kernel.build_root, f"make -j2 -C /build KDIR={kdir}",
                                      binds=[(staging, "/build")], capture_output=True, text=True)
        if build.returncode != 0 or not (staging / f"{name}.ko").is_file():
            log_lines = (build.stdout + build.stderr).strip().splitlines()[-25:]
            raise RunError(f"building {name}.ko from {src} for {kernel.release} failed "
                           f"(`{how}`):\n  " + "\n  ".join(log_lines))
        try:
            os.rename(staging, tree)
        except OSError:
            if not module.is_file():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return module


def build_myfs(kernel, log=lambda msg: None) -> Path:
    """myfs.ko for `kernel` (a Kernel or a spec), built from kmod/ (or $READPATH_MYFS_SRC)
    in a per-kernel cache directory and rebuilt whenever the sources change."""
    if isinstance(kernel, str):
        kernel = resolve_kernel(kernel)
    src = Path(os.environ.get("READPATH_MYFS_SRC") or paths.REPO / "kmod")
    return build_module(src, kernel, "myfs", log)
