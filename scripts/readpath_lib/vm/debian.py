"""Debian kernels that this host's apt cannot install: series served only by newer suites
(trixie, trixie-backports, sid), whose headers need a newer libc and compiler than
Debian 12 has, and Debian 12's own 6.12 where the host's apt sources lack
bookworm-security, its only suite (a root made by debootstrap has `bookworm main` alone).
They are fetched with apt's own client into readpath's cache (an index of
their suites kept there, never in the host's apt sources), unpacked without installing
anything on the host, and myfs is built for them in a build root: a minimal Debian of the
kernel's own suite (debootstrap) holding its headers and toolchain, entered with chroot
in a private mount namespace, so nothing stays mounted."""

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .. import packages, paths
from ..errors import RunError, UsageError

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# The suites of the cache's own index, (mirror, suite): those that serve kernels newer
# than bookworm's, and bookworm-security, which serves bookworm's 6.12.
SOURCES = ((MIRROR, "trixie"), (MIRROR, "trixie-backports"), (MIRROR, "sid"),
           (SECURITY_MIRROR, "bookworm-security"))
SUITES = tuple(suite for _, suite in SOURCES)
# sid's Release is valid for a week; a mirror that serves an older snapshot of it (as
# here) makes apt refuse it as expired. Its signature is still checked.
NOT_EXPIRED = "Acquire::Check-Valid-Until=false"
INDEX_MAX_AGE = 24 * 3600  # seconds before the index is fetched again
# A Debian kernel release of the generic amd64 flavour: 7.3.4+deb13-amd64.
RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)\+deb(\d+)-amd64")
# What a build root holds besides the kernel's headers (which bring its gcc): gcc needs
# `as` from binutils (without it every compiler probe of Kbuild fails, and the first
# error is asm/ftrace.h's "Compiler does not support fentry?").
BUILD_TOOLS = ["make", "binutils"]


def _root_dir() -> Path:
    return paths.cache_dir("debian")


@contextmanager
def _locked(name):
    """An exclusive lock between readpath processes sharing this cache."""
    with open(_root_dir() / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _require_root(what):
    if os.geteuid() != 0:
        raise UsageError(f"{what} needs root (it unpacks Debian packages and builds in a "
                         "chroot); run readpath as root")


# ---- the index of those suites (apt's own client, readpath's own state) ----

def _apt_dir() -> Path:
    return paths.cache_dir("debian", "apt")


def _apt_options():
    base = _apt_dir()
    return ["-o", f"Dir::Etc::sourcelist={base / 'sources.list'}",
            "-o", f"Dir::Etc::sourceparts={base / 'sources.list.d'}",
            "-o", f"Dir::State::Lists={base / 'lists'}",
            "-o", f"Dir::Cache={base / 'cache'}",
            "-o", "Dir::State::status=/dev/null",
            "-o", "APT::Architecture=amd64",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root",
            "-o", NOT_EXPIRED]


def _update_index(force=False):
    """Fetch the suites' package lists into the cache when missing or older than a day."""
    base = _apt_dir()
    stamp = base / "updated"
    if not force and stamp.is_file() and time.time() - stamp.stat().st_mtime < INDEX_MAX_AGE:
        return
    packages.ensure(["apt", "debian-archive-keyring"], "reading Debian's kernel index")
    for sub in ("sources.list.d", "lists/partial", "cache/archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "sources.list").write_text("".join(
        f"deb [signed-by={KEYRING}] {mirror} {suite} main\n" for mirror, suite in SOURCES))
    done = subprocess.run(["apt-get", *_apt_options(), "update", "-qq"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if stamp.is_file():  # keep using the index we have
            return
        raise RunError("could not fetch Debian's package index for "
                       f"{', '.join(SUITES)}: {(done.stderr or done.stdout).strip()[-400:]}")
    stamp.touch()


def _madison(names):
    """{package: (version, suite)} for those of `names` the index has (newest version)."""
    if not names:
        return {}
    done = subprocess.run(["apt-cache", *_apt_options(), "madison", *names],
                          capture_output=True, text=True)
    found = {}
    for line in done.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            continue
        name, version, source = parts
        suite = source.split()[1].split("/")[0] if len(source.split()) > 1 else ""
        found.setdefault(name, (version, suite))  # madison lists the newest first
    return found


def _release_key(release):
    major, minor, patch, deb = (int(x) for x in RELEASE.fullmatch(release).groups())
    return (major, minor, patch, deb)


def available(series=None):
    """{release: suite} of the generic amd64 kernels the index's suites serve with headers,
    for a series such as `7.3` (all when None)."""
    _update_index()
    names = subprocess.run(["apt-cache", *_apt_options(), "pkgnames", "linux-image-"],
                           capture_output=True, text=True).stdout.split()
    releases = [n[len("linux-image-"):] for n in names]
    releases = [r for r in releases if RELEASE.fullmatch(r)
                and (series is None or r.startswith(series + "."))]
    images = _madison([f"linux-image-{r}" for r in releases])
    headers = _madison([f"linux-headers-{r}" for r in releases])
    return {r: images[f"linux-image-{r}"][1] for r in releases
            if f"linux-image-{r}" in images and f"linux-headers-{r}" in headers}


def newest(series):
    """The newest release of `series` (`7.3`) that the index's suites serve with headers."""
    candidates = available(series)
    return max(candidates, key=_release_key) if candidates else None


def suite_of(release):
    """The suite serving release's headers (`trixie-backports`, `sid`, `bookworm-security`),
    or None."""
    if not RELEASE.fullmatch(release):
        return None
    _update_index()
    found = _madison([f"linux-image-{release}", f"linux-headers-{release}"])
    if len(found) < 2:
        return None
    return found[f"linux-headers-{release}"][1]


# ---- the kernel itself: image and modules, unpacked ----

def kernel_dir(release) -> Path:
    return paths.cache_dir("debian", "kernels") / release


def image_and_modules(release):
    """(image, modules tree) of an unpacked release, wherever its packages put them:
    7.x ships the image in linux-binary-<release> as /usr/lib/modules/<release>/vmlinuz,
    older ones in linux-image-<release> as /boot/vmlinuz-<release>."""
    root = kernel_dir(release) / "root"
    modules = root / "usr" / "lib" / "modules" / release
    if not modules.is_dir():
        modules = root / "lib" / "modules" / release
    image = modules / "vmlinuz"
    if not image.is_file():
        image = root / "boot" / f"vmlinuz-{release}"
    return image, modules


def _download(names, where: Path):
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["apt-get", *_apt_options(), "download", "-qq", *names],
                          cwd=where, capture_output=True, text=True)
    if done.returncode != 0:
        raise RunError(f"could not download {' '.join(names)} from Debian: "
                       f"{(done.stderr or done.stdout).strip()[-400:]}")
    return sorted(where.glob("*.deb"))


def fetch_kernel(release, log=lambda msg: None):
    """Unpack release's image and modules into the cache (once) and index its modules."""
    _require_root(f"booting kernel {release}")
    target = kernel_dir(release)
    if (target / "complete").is_file():
        return image_and_modules(release)
    with _locked(f"kernel-{release}"):
        if (target / "complete").is_file():
            return image_and_modules(release)
        _update_index()
        wanted = [n for n in (f"linux-image-{release}", f"linux-binary-{release}",
                              f"linux-modules-{release}") if n in _madison([n])]
        if f"linux-image-{release}" not in wanted:
            raise UsageError(f"Debian serves no linux-image-{release}")
        log(f"readpath vm: fetching {release} from Debian ({', '.join(wanted)}), once")
        shutil.rmtree(target, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target.parent))
        try:
            for deb in _download(wanted, staging / "debs"):
                subprocess.run(["dpkg-deb", "-x", str(deb), str(staging / "root")], check=True)
            shutil.rmtree(staging / "debs")
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        image, modules = image_and_modules(release)
        if not image.is_file() or not modules.is_dir():
            raise RunError(f"the packages of {release} hold no kernel image or modules "
                           f"where Debian puts them ({target})")
        # modules.dep is made by the package's postinst; depmod -b reads <base>/lib/modules.
        root = target / "root"
        if (root / "usr/lib/modules").is_dir() and not (root / "lib").exists():
            (root / "lib").symlink_to("usr/lib")
        packages.ensure(["kmod"], f"indexing the modules of {release}")
        subprocess.run(["depmod", "-b", str(root), release], check=True, capture_output=True)
        (target / "complete").touch()
    return image_and_modules(release)


# ---- the build root: the kernel's own suite, its headers and toolchain ----

def _base_suite(suite):
    """The suite a build root is bootstrapped from: trixie for trixie-backports, bookworm
    for bookworm-security."""
    return suite.split("-")[0]


def build_root_dir(suite) -> Path:
    return paths.cache_dir("debian", "buildroot") / _base_suite(suite)


def chroot_run(root: Path, script: str, binds=(), **kwargs):
    """Run `sh -c script` chrooted in `root`, with /dev and /proc and each (host, guest)
    bind, all in a private mount namespace that ends with the command."""
    mounts = [f"mount --rbind /dev {root}/dev", f"mount -t proc proc {root}/proc"]
    for host, inside in binds:
        mounts.append(f"mkdir -p {root}{inside} && mount --bind {host} {root}{inside}")
    quoted = script.replace("'", "'\\''")
    outer = " && ".join(mounts) + f" && exec chroot {root} sh -c '{quoted}'"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", outer],
                          **kwargs)


def _bootstrap(suite, log):
    """debootstrap --variant=minbase <base suite> into the cache (once per base suite)."""
    root = build_root_dir(suite)
    if (root / ".readpath-complete").is_file():
        return root
    base = _base_suite(suite)
    packages.ensure(["debootstrap", "debian-archive-keyring"], f"a {base} build root")
    log(f"readpath vm: making a {base} build root for kernel modules (debootstrap, once; "
        "about a minute and 0.5 GB)")
    shutil.rmtree(root, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{base}-", dir=root.parent))
    try:
        done = subprocess.run(["debootstrap", "--variant=minbase", f"--keyring={KEYRING}",
                               base, str(staging), MIRROR], capture_output=True, text=True)
        if done.returncode != 0:
            raise RunError(f"debootstrap of {base} failed: "
                           f"{(done.stdout + done.stderr).strip()[-600:]}")
        if base != "sid":
            (staging / "etc/apt/sources.list.d/readpath-backports.list").write_text(
                f"deb {MIRROR} {base}-backports main\n"
                f"deb {SECURITY_MIRROR} {base}-security main\n")
        (staging / ".readpath-complete").touch()
        os.rename(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def ensure_build_root(release, log=lambda msg: None) -> Path:
    """The build root holding release's headers (/usr/src/linux-headers-<release>) and its
    compiler, made and filled on first use."""
    _require_root(f"building modules for {release}")
    suite = suite_of(release)
    if suite is None:
        raise UsageError(f"Debian serves no linux-headers-{release}; myfs cannot be built for it")
    with _locked(f"buildroot-{_base_suite(suite)}"):
        root = _bootstrap(suite, log)
        if (root / "usr/src" / f"linux-headers-{release}" / "Makefile").is_file():
            return root
        log(f"readpath vm: installing linux-headers-{release} in the {_base_suite(suite)} "
            "build root, once")
        target = f"-t {suite} " if suite.endswith("-backports") else ""
        done = chroot_run(root, f"apt-get -o {NOT_EXPIRED} update -qq && "
                          "DEBIAN_FRONTEND=noninteractive "
                          f"apt-get install -y -qq --no-install-recommends {target}"
                          f"linux-headers-{release} {' '.join(BUILD_TOOLS)} && apt-get clean",
                          capture_output=True, text=True)
        if done.returncode != 0:
            raise RunError(f"installing linux-headers-{release} in {root} failed: "
                           f"{(done.stdout + done.stderr).strip()[-600:]}")
    return root
