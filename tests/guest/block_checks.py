#!/usr/bin/python3
"""myfs block mode checks for one kernel, run inside a readpath guest as root.

tests/guest/test_block.py boots a kernel once and runs this script there. Each check
formats a block device (null_blk, brd, or a virtio-blk drive when one is attached) with
tools/mkfs.myfs, mounts myfs on it (`mount -t myfs /dev/X MNT`, block mode) and records
pass/fail/skip with a one-line detail and what it saw in $READPATH_OUT/block_checks.json
(rewritten after every check). Run by hand:

    scripts/readpath vm --kernel 6.1 -- /usr/bin/python3 tests/guest/block_checks.py \\
        --ko PATH/TO/myfs.ko --mkfs build/tools/mkfs.myfs --only cold_read_bios_predicted

Standard library only; helpers (content function, module loading, leak accounting) come
from myfs_checks.py beside it.
"""

import argparse
import ctypes
import errno
import math
import mmap
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import myfs_checks as mc  # noqa: E402
from myfs_checks import (BAD_LOG, MIB, PAGE, CheckFailed, Skip, evict, expect,  # noqa: E402
                         expected_bytes, first_difference, kernel_log, libc, nonzero,
                         pytest_like_raises, run, sys_mount)

BLOCK = 4096
WORK = "/run/block-checks"
COUNTERS = ["read", "read_iter", "read_folio", "readahead", "readahead_pages", "mmap", "fault",
            "fault_major", "fault_minor", "fault_error", "map_pages", "map_pages_pages",
            "page_mkwrite", "write_iter", "fsync", "bio_submit", "bio_pages", "bio_complete",
            "bio_error", "direct_read", "readahead_folios", "read_folio_pages"]
O_DIRECT = getattr(os, "O_DIRECT", 0o40000)


# ---- devices ----

def _module_params(name):
    base = f"/sys/module/{name}/parameters"
    if not os.path.isdir(base):
        return None
    out = {}
    for p in os.listdir(base):
        try:
            with open(os.path.join(base, p)) as f:
                out[p] = f.read().strip()
        except OSError:
            pass
    return out


def _modprobe(name, params):
    """Loads `name` with exactly these parameters, reloading it when loaded otherwise."""
    have = _module_params(name)
    norm = {"Y": "1", "N": "0"}  # bool parameters read back as Y/N
    if have is not None and all(norm.get(have.get(k), have.get(k)) == str(v)
                                for k, v in params.items()):
        return
    if have is not None:
        out = run(["rmmod", name])
        if out.returncode:
            raise CheckFailed(f"rmmod {name}: {out.stderr.strip()}")
    out = run(["modprobe", name] + [f"{k}={v}" for k, v in params.items()])
    if out.returncode:
        raise Skip(f"modprobe {name} is not possible here: {out.stderr.strip()}")


def _wait_for(path, seconds=10):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise CheckFailed(f"{path} did not appear")
        time.sleep(0.05)


def null_blk(irqmode=0):
    """/dev/nullb0: 1 GiB, memory-backed (reads return what was written), completions
    inline in queue_rq (irqmode=0), in a softirq (1) or from a timer (2)."""
    _modprobe("null_blk", {"nr_devices": 1, "memory_backed": 1, "gb": 1, "irqmode": irqmode})
    _wait_for("/dev/nullb0")
    return "/dev/nullb0"


def brd(rd_size_kib=65536):
    """/dev/ram0: a RAM disk, bio-based (no request queue, no scheduler)."""
    _modprobe("brd", {"rd_nr": 1, "rd_size": rd_size_kib})
    _wait_for("/dev/ram0")
    return "/dev/ram0"


class NullBlkConfigfs:
    """A null_blk disk made through configfs (/sys/kernel/config/nullb/NAME), the only way to
    give it bad blocks: 64 MiB, memory-backed, 4096-byte blocks. Its name is NAME on kernels
    that name configfs disks after their directory, nullb<index> on those that do not."""

    ROOT = "/sys/kernel/config"

    def __init__(self, name="rpbad"):
        self.dir = f"{self.ROOT}/nullb/{name}"
        self.name = name
        self.device = None

    def _set(self, attr, value):
        with open(f"{self.dir}/{attr}", "w") as f:
            f.write(f"{value}\n")

    def __enter__(self):
        _modprobe("null_blk", {"nr_devices": 1, "memory_backed": 1, "gb": 1, "irqmode": 0})
        if not os.path.isdir(f"{self.ROOT}/nullb"):
            if not os.path.ismount(self.ROOT):
                run(["modprobe", "configfs"])
                out = run(["mount", "-t", "configfs", "none", self.ROOT])
                if out.returncode:
                    raise Skip(f"configfs cannot be mounted: {out.stderr.strip()}")
            if not os.path.isdir(f"{self.ROOT}/nullb"):
                raise Skip("null_blk has no configfs directory here")
        os.mkdir(self.dir)
        try:
            for attr, value in (("size", 64), ("memory_backed", 1), ("blocksize", 4096),
                                ("irqmode", 0), ("power", 1)):
                self._set(attr, value)
            with open(f"{self.dir}/index") as f:
                index = int(f.read())
            for candidate in (f"/dev/{self.name}", f"/dev/nullb{index}"):
                try:
                    _wait_for(candidate, 2)
                except CheckFailed:
                    continue
                self.device = candidate
                return self
            raise CheckFailed(f"neither /dev/{self.name} nor /dev/nullb{index} appeared")
        except BaseException:
            self.__exit__()
            raise

    def bad_sectors(self, first, last):
        """Every request that touches sectors first..last (512 bytes each) fails with EIO."""
        self._set("badblocks", f"+{first}-{last}")

    def __exit__(self, *exc):
        try:
            self._set("power", 0)
        except OSError:
            pass
        os.rmdir(self.dir)


def virtio_disk():
    """The first virtio-blk disk run_in_vm attached ($READPATH_DRIVES), or Skip."""
    drives = os.environ.get("READPATH_DRIVES", "").split()
    if not drives:
        raise Skip("no virtio-blk drive attached ($READPATH_DRIVES is empty; test_block "
                   "attaches one with run_in_vm's drives=)")
    _wait_for(drives[0])
    return drives[0]


def disk_name(device):
    return os.path.basename(os.path.realpath(device))


def queue(device, key, value=None):
    path = f"/sys/block/{disk_name(device)}/queue/{key}"
    if value is not None:
        with open(path, "w") as f:
            f.write(str(value))
    with open(path) as f:
        return f.read().strip()


def scheduler(device):
    """The selected scheduler; `n/a` for a bio-based disk (brd on 6.12 has no such file)."""
    if not os.path.exists(f"/sys/block/{disk_name(device)}/queue/scheduler"):
        return "n/a"
    text = queue(device, "scheduler")
    m = re.search(r"\[(\S+)\]", text)
    return m.group(1) if m else text


def disk_stat(device):
    """/sys/block/<disk>/stat: reads completed, reads merged, sectors read."""
    with open(f"/sys/block/{disk_name(device)}/stat") as f:
        v = [int(x) for x in f.read().split()]
    return {"reads": v[0], "merges": v[1], "sectors": v[2]}


def stat_delta(before, after):
    return {k: after[k] - before[k] for k in before}


def mkfs(args, device, *files, engine_sizes=None):
    """Runs mkfs.myfs; returns {name: (size, ino, start)} from its output."""
    cmd = [args.mkfs, device, *files]
    if engine_sizes:
        cmd += ["--engine-sizes", engine_sizes]
    out = run(cmd)
    expect(out.returncode == 0, f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    table = {}
    for line in out.stdout.splitlines():
        name, size, ino, start = line.split()
        table[name] = (int(size), int(ino), int(start))
    return table


class BlockMount(mc.Myfs):
    """myfs in block mode on `device` at a temporary directory (a Myfs with a source)."""

    def __init__(self, device, options=""):
        super().__init__(options, device=device, work=WORK)

    def source(self):
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == self.path:
                    return fields[fields.index("-") + 2]
        raise CheckFailed(f"{self.path} is not in /proc/self/mountinfo")


# ---- reading an image file every way ----

def _read_all_syscall(path, chunk):
    out = bytearray()
    with open(path, "rb", buffering=0) as f:
        while True:
            data = os.read(f.fileno(), chunk)
            if not data:
                return bytes(out)
            out += data


def verify_file(path, size, ino):
    """Every byte by read(2) (odd chunks), pread at random offsets, and mmap, cold each time;
    bytes past EOF in the mapping's last page are zero."""
    st = os.stat(path)
    expect(st.st_size == size and st.st_ino == ino,
           f"{path}: size {st.st_size}, ino {st.st_ino}; mkfs said {size}, {ino}")
    want = expected_bytes(ino, 0, size)
    evict(path)
    got = _read_all_syscall(path, 65536 + 512)
    bad = first_difference(got, want)
    expect(bad is None, f"{path}: read(2) differs at byte {bad} (read {len(got)} of {size})")
    evict(path)
    rnd = random.Random(ino)
    with open(path, "rb", buffering=0) as f:
        for _ in range(64):
            off = rnd.randrange(0, size)
            n = rnd.randrange(1, 3 * BLOCK)
            data = os.pread(f.fileno(), n, off)
            expect(data == want[off:off + n], f"{path}: pread({n}, {off}) differs")
        expect(os.pread(f.fileno(), 100, size) == b"", f"{path}: pread at EOF is not empty")
    evict(path)
    tail = -(-size // PAGE) * PAGE
    with open(path, "rb") as f:
        addr = libc.mmap(None, tail, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
        expect(addr not in (None, ctypes.c_void_p(-1).value), f"{path}: mmap failed")
        try:
            mapped = ctypes.string_at(addr, tail)
        finally:
            libc.munmap(addr, tail)
    bad = first_difference(mapped[:size], want)
    expect(bad is None, f"{path}: the mapping differs at byte {bad}")
    expect(mapped[size:] == bytes(tail - size), f"{path}: bytes past EOF in the mapping are not zero")


CONTENT_FILES = ["one=1", "odd=5000", "page=4K", "mib=1M", "big=3M", "tail=2099989"]


def content_check(args, data, device):
    mc.load_module(args.ko)
    table = mkfs(args, device, *CONTENT_FILES, engine_sizes="4K,1M")
    data["mkfs"] = table
    with BlockMount(device) as fs:
        expect(fs.source() == device, f"/proc/mounts source {fs.source()}, not {device}")
        names = sorted(n for n in os.listdir(fs.path))
        expect(names == sorted(table), f"the mount lists {names}, mkfs wrote {sorted(table)}")
        fs.reset()
        for name, (size, ino, _start) in table.items():
            verify_file(fs.file(name), size, ino)
        s = fs.stats()
        data["stats"] = nonzero(s)
        expect(s["bio_submit"] > 0 and s["bio_complete"] == s["bio_submit"] and not s["bio_error"],
               f"bios: {nonzero(s)}")
    data["disk"] = {"scheduler": scheduler(device), "max_sectors_kb": queue(device, "max_sectors_kb")}


# ---- checks ----

CHECKS, check = mc.check_registry()


@check
def mkfs_command_line(args, data):
    """mkfs.myfs: --help, exit 2 with one line for bad arguments and a device too small."""
    out = run([args.mkfs, "--help"])
    expect(out.returncode == 0 and "NAME=SIZE" in out.stdout and "--engine-sizes" in out.stdout,
           f"--help: exit {out.returncode}: {out.stdout[:200]}")
    os.makedirs(WORK, exist_ok=True)
    image = os.path.join(WORK, "cli.img")
    bad = {"no target": [], "no size": [image, "a"], "bad size": [image, "a=1Q"],
           "zero size": [image, "a=0"], "slash": [image, "a/b=1"], "twice": [image, "a=1", "a=2"],
           "long name": [image, "n" * 40 + "=1"], "bad engine sizes": [image, "--engine-sizes", "x"],
           "unknown option": [image, "--bogus"], "engine size twice": [image, "--engine-sizes", "4K,4K"]}
    seen = {}
    for what, argv in bad.items():
        out = run([args.mkfs, *argv])
        seen[what] = (out.returncode, out.stderr.strip())
        expect(out.returncode == 2, f"{what}: exit {out.returncode}, not 2 ({out.stderr.strip()})")
        expect(out.stderr.startswith("mkfs.myfs: ") and out.stderr.count("\n") == 1,
               f"{what}: not one line: {out.stderr!r}")
    data["refused"] = seen
    device = brd(1024)  # 1 MiB: too small for 2 MiB of files
    out = run([args.mkfs, device, "a=2M"])
    data["too small"] = out.stderr.strip()
    expect(out.returncode == 2 and "needs" in out.stderr, f"a device too small: {out.returncode} {out.stderr}")
    table = mkfs(args, image, "x=5000", engine_sizes="4K,1M")
    expect(table == {"x": (5000, 2, 2), "readpath-4K.dat": (4096, 3, 4),
                     "readpath-1M.dat": (MIB, 4, 5)}, f"layout printed: {table}")
    expect(os.path.getsize(image) == (5 + 256) * BLOCK, f"image size {os.path.getsize(image)}")
    with open(image, "rb") as f:
        head = f.read(32)
    expect(head[:8] == b"myfsblk1" and struct.unpack_from("<IIQII", head, 8) == (1, 4096, 261, 3, 1),
           f"superblock {head.hex()}")
    os.unlink(image)


@check
def seed_session_block(args, data):
    """insmod, mount the formatted device, touch, echo 'hellowrld' >, cat, umount, rmmod."""
    if not args.ko:
        raise Skip("no --ko given")
    if mc.module_loaded() and mc.unload_module():
        raise Skip("myfs is loaded and in use, so the session cannot start with insmod")
    device = null_blk()
    mkfs(args, device, "data=1M")
    mc.run_seed_session(args.ko, device, WORK, data)


@check
def content_null_blk(args, data):
    """Every byte of every image file by read(2), pread and mmap on null_blk (softirq completions)."""
    content_check(args, data, null_blk(irqmode=1))


@check
def content_brd(args, data):
    """Every byte of every image file by read(2), pread and mmap on brd (bio-based)."""
    content_check(args, data, brd())


@check
def content_virtio(args, data):
    """Every byte of every image file by read(2), pread and mmap on a virtio-blk drive."""
    if args.no_virtio_reason:
        raise Skip(f"no virtio-blk drive could be attached: {args.no_virtio_reason}")
    content_check(args, data, virtio_disk())


@check
def image_files_read_only(args, data):
    """Image files refuse write, truncate, O_TRUNC and shared writable mappings (EPERM); new
    files live in memory, numbered above every image file, and are gone after umount; pages
    are evictable."""
    mc.load_module(args.ko)
    device = null_blk()
    table = mkfs(args, device, "ro=1M", "second=8K")
    with BlockMount(device) as fs:
        p = fs.file("ro")
        fd = os.open(p, os.O_RDWR)
        try:
            with pytest_like_raises(OSError, errno.EPERM, "write(2) to an image file"):
                os.pwrite(fd, b"x", 0)
            with pytest_like_raises(OSError, errno.EPERM, "ftruncate of an image file"):
                os.ftruncate(fd, 10)
            with pytest_like_raises(OSError, errno.EPERM, "a shared writable mapping"):
                mmap.mmap(fd, MIB, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
            private = mmap.mmap(fd, MIB, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
            private[0:1] = b"z"
            private.close()
        finally:
            os.close(fd)
        with pytest_like_raises(OSError, errno.EPERM, "open with O_TRUNC"):
            os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
        with pytest_like_raises(OSError, errno.EPERM, "fallocate"):
            fd = os.open(p, os.O_RDWR)
            try:
                os.posix_fallocate(fd, 0, 2 * MIB)
            finally:
                os.close(fd)
        verify_file(p, *table["ro"][:2])
        # Evictable: after FADV_DONTNEED and after drop_caches the next read goes to the device.
        for how, action in (("FADV_DONTNEED", lambda: evict(p)), ("drop_caches", mc.drop_caches)):
            mc.read_all(p)
            action()
            fs.reset()
            mc.read_all(p)
            s = fs.stats()
            data[how] = nonzero(s)
            expect(s["bio_pages"] == 256, f"after {how} the re-read read {s['bio_pages']} pages: {nonzero(s)}")
        new = fs.file("new")
        with open(new, "w") as f:
            f.write("in memory\n")
        expect(open(new).read() == "in memory\n", "a new file does not read back")
        os.mkdir(fs.file("dir"))
        inos = {name: os.stat(fs.file(name)).st_ino for name in ("ro", "second", "new", "dir")}
        inos["/"] = os.stat(fs.path).st_ino
        data["st_ino"] = inos
        expect(inos["/"] == 1, f"the root is inode {inos['/']}, not 1")
        for name in ("ro", "second"):
            expect(inos[name] == table[name][1], f"{name} is inode {inos[name]}, not the table's "
                   f"{table[name][1]}")
        top = max(ino for _, ino, _ in table.values())
        expect(inos["new"] > top and inos["dir"] > top and inos["new"] != inos["dir"],
               f"files made after the mount share numbers with the image's: {inos}")
        fs.reset()
        expect(fs.stats()["bio_submit"] == 0, "reading a new file submitted bios")
    with BlockMount(device) as fs:
        expect(sorted(os.listdir(fs.path)) == ["ro", "second"], f"after a remount: {os.listdir(fs.path)}")


@check
def io_errors_reach_the_reader(args, data):
    """A block the device fails (null_blk's badblocks) fails the read that needs it with EIO,
    counted in bio_error (and in bio_complete: its end_io ran), while the pages before it read
    their bytes; an O_DIRECT read of it fails with EIO too; nothing else breaks."""
    mc.load_module(args.ko)
    with NullBlkConfigfs() as nb:
        table = mkfs(args, nb.device, "bad=256K", "good=64K")
        size, ino, start = table["bad"]
        bad_block = start + 40      # in the second 128K readahead window of the file
        nb.bad_sectors(bad_block * 8, bad_block * 8 + 7)
        want = expected_bytes(ino, 0, size)
        with BlockMount(nb.device) as fs:
            p = fs.file("bad")
            fs.reset()
            with open(p, "rb", buffering=0) as f:
                head = os.pread(f.fileno(), 128 * 1024, 0)
                expect(head == want[:128 * 1024], "the blocks before the bad one differ")
                with pytest_like_raises(OSError, errno.EIO, "read(2) of the bad block"):
                    os.pread(f.fileno(), 4096, (bad_block - start) * 4096)
            s = fs.stats()
            data["buffered"] = nonzero(s)
            expect(s["bio_error"] >= 1, f"bio_error did not count the failed bio: {nonzero(s)}")
            expect(s["bio_complete"] == s["bio_submit"],
                   f"{s['bio_submit']} bios submitted, {s['bio_complete']} completed")
            fd = os.open(p, os.O_RDONLY | O_DIRECT)
            buf = mmap.mmap(-1, 4096)
            try:
                with pytest_like_raises(OSError, errno.EIO, "an O_DIRECT read of the bad block"):
                    os.preadv(fd, [buf], (bad_block - start) * 4096)
                n = os.preadv(fd, [buf], 0)
                expect(n == 4096 and buf[:] == want[:4096], "an O_DIRECT read of a good block failed")
            finally:
                os.close(fd)
            verify_file(fs.file("good"), *table["good"][:2])
            data["after"] = nonzero(fs.stats())


def _set_queue(device, read_ahead_kb=128):
    queue(device, "read_ahead_kb", read_ahead_kb)
    if scheduler(device) != "none":
        queue(device, "scheduler", "none")
    return {"read_ahead_kb": int(queue(device, "read_ahead_kb")),
            "max_sectors_kb": int(queue(device, "max_sectors_kb")),
            "max_segments": int(queue(device, "max_segments")),
            "scheduler": scheduler(device)}


def predict_cold_read(size, read_ahead_kb, max_sectors_kb, max_segments):
    """The bios and device requests of one cold read(2) of `size` bytes from offset 0.

    Readahead (mm/readahead.c, 6.1 and 6.12): ra_pages = read_ahead_kb / 4. A request
    larger than that may widen the window to the device's io_pages (max_sectors_kb / 4)
    when io_pages is larger; here it is not (null_blk: 124 KiB < 128 KiB), so max_pages =
    ra_pages. The first window at index 0 is get_init_ra_size(req, max) = max (the request
    is more than max/4), all of it marked async; each later window, started when the read
    reaches the marker, is get_next_ra_size(max) = max again. So size/(4 KiB·max) readahead
    calls of max pages each. myfs makes one bio per readahead call (the file's blocks are
    contiguous and a window is at most BIO_MAX_VECS pages). The block layer splits each bio
    at max_sectors_kb (a window's pages are far fewer than max_segments), so each bio is
    ceil(window / max_sectors) requests; with scheduler none and null_blk irqmode=0 each
    request completes inside its submission, so nothing is left queued to merge with:
    merges 0."""
    pages = size // PAGE
    max_pages = read_ahead_kb * 1024 // PAGE
    io_pages = max_sectors_kb * 1024 // PAGE
    if pages > max_pages and io_pages > max_pages:
        max_pages = min(pages, io_pages)
    windows = []
    left = pages
    while left > 0:
        windows.append(min(max_pages, left))
        left -= windows[-1]
    # What the prediction takes as given: a window fits one bio, a request fits max_segments.
    assert max(windows) <= 256 and min(max_pages, max_sectors_kb * 1024 // PAGE) <= max_segments
    per_bio = [math.ceil(w * PAGE / (max_sectors_kb * 1024)) for w in windows]
    return {"readahead": len(windows), "bio_submit": len(windows), "bio_pages": pages,
            "reads": sum(per_bio), "merges": 0, "sectors": size // 512}


@check
def cold_read_bios_predicted(args, data):
    """A cold 1 MiB read(2) with read_ahead_kb=128 on null_blk (irqmode=0): bio_submit,
    bio_pages and the disk's read requests and merges are exactly as the readahead
    arithmetic predicts."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    table = mkfs(args, device, "r=1M")
    q = _set_queue(device, 128)
    want = predict_cold_read(MIB, q["read_ahead_kb"], q["max_sectors_kb"], q["max_segments"])
    data.update(queue=q, predicted=want)
    with BlockMount(device) as fs:
        p = fs.file("r")
        with open(p, "rb", buffering=0) as f:
            mc.drop_caches()
            fs.reset()
            before = disk_stat(device)
            got = os.read(f.fileno(), MIB)
            dev = stat_delta(before, disk_stat(device))
        s = fs.stats()
        seen = {"readahead": s["readahead"], "bio_submit": s["bio_submit"],
                "bio_pages": s["bio_pages"], "reads": dev["reads"], "merges": dev["merges"],
                "sectors": dev["sectors"]}
        data.update(seen=seen, stats=nonzero(s))
        expect(first_difference(got, expected_bytes(table["r"][1], 0, MIB)) is None, "bytes differ")
        expect(seen == want, f"predicted {want}, saw {seen}")
        expect(s["bio_complete"] == s["bio_submit"] and s["read_folio"] == 0, f"stats: {nonzero(s)}")
        # The device's read_ahead_kb raised after the mount applies to files opened after
        # it: one 1 MiB window, so one bio of 256 pages, split at max_sectors_kb.
        queue(device, "read_ahead_kb", 1024)
        want = predict_cold_read(MIB, 1024, q["max_sectors_kb"], q["max_segments"])
        mc.drop_caches()
        fs.reset()
        before = disk_stat(device)
        with open(p, "rb", buffering=0) as f:
            os.read(f.fileno(), MIB)
        dev = stat_delta(before, disk_stat(device))
        s = fs.stats()
        queue(device, "read_ahead_kb", 128)
        seen = {"readahead": s["readahead"], "bio_submit": s["bio_submit"],
                "bio_pages": s["bio_pages"], **dev}
        data["read_ahead_kb=1024"] = {"predicted": want, "seen": seen}
        expect(seen == want, f"read_ahead_kb=1024: predicted {want}, saw {seen}")


@check
def direct_read_reaches_device(args, data):
    """An O_DIRECT read is counted as direct_read, submits no myfs bio, reaches the device
    (the disk's stat moves by its sectors) and returns the file's bytes."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    table = mkfs(args, device, "d=2M")
    q = _set_queue(device, 128)
    with BlockMount(device) as fs:
        p = fs.file("d")
        mc.read_all(p)  # cached pages do not serve O_DIRECT
        fd = os.open(p, os.O_RDONLY | O_DIRECT)
        buf = mmap.mmap(-1, MIB)  # page-aligned
        try:
            fs.reset()
            before = disk_stat(device)
            n = os.preadv(fd, [buf], MIB)
            dev = stat_delta(before, disk_stat(device))
        finally:
            os.close(fd)
        s = fs.stats()
        data.update(stats=nonzero(s), disk=dev, queue=q)
        expect(n == MIB, f"O_DIRECT pread returned {n}")
        expect(buf[:] == expected_bytes(table["d"][1], MIB, MIB), "O_DIRECT bytes differ")
        expect(s["direct_read"] == 1 and s["read_iter"] == 1, f"counters: {nonzero(s)}")
        expect(s["bio_submit"] == 0 and s["readahead"] == 0, f"O_DIRECT went through the page cache: {nonzero(s)}")
        # One 1 MiB bio from iomap (256 page vectors), split at max_sectors_kb.
        expect(dev["sectors"] == MIB // 512 and
               dev["reads"] == math.ceil(1024 / q["max_sectors_kb"]),
               f"disk stat moved {dev}; expected {MIB // 512} sectors in "
               f"{math.ceil(1024 / q['max_sectors_kb'])} reads")
        fd = os.open(p, os.O_RDONLY | O_DIRECT)
        try:
            with pytest_like_raises(OSError, errno.EINVAL, "an unaligned O_DIRECT read"):
                os.pread(fd, 100, 1)
        finally:
            os.close(fd)
        buf.close()


def _blocks(text):
    """[(hook, calls, unrecorded, frames)] from a `paths` text."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        m = re.fullmatch(r"hook (\w+) calls (\d+)( unrecorded)?", lines[0])
        if not m:
            raise CheckFailed(f"bad header {lines[0]!r}")
        out.append((m.group(1), int(m.group(2)), bool(m.group(3)), lines[1:]))
    return out


@check
def trace_bio_stacks(args, data):
    """trace=once records bio_submit and bio_complete; with null_blk irqmode=0 the completion
    stack runs from read(2) through the driver's queue_rq to myfs's end_io."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    mkfs(args, device, "t=1M")
    _set_queue(device, 128)
    with BlockMount(device, "trace=once") as fs:
        p = fs.file("t")
        mc.drop_caches()
        with open(p, "rb", buffering=0) as f:
            os.read(f.fileno(), MIB)
        text = fs.paths()
        data["paths"] = text[:12000]
        blocks = _blocks(text)
        submit = [b for b in blocks if b[0] == "bio_submit"]
        complete = [b for b in blocks if b[0] == "bio_complete"]
        expect(submit and complete, f"hooks recorded: {sorted({b[0] for b in blocks})}")
        expect(all(b[3][0].startswith("myfs_submit+") for b in submit),
               "a bio_submit path does not start at myfs_submit")
        expect(any("vfs_read+0x" in "\n".join(b[3]) for b in submit), "no bio_submit path from vfs_read")
        expect(all(b[3][0].startswith("myfs_read_end_io+") for b in complete),
               "a bio_complete path does not start at myfs_read_end_io")
        # null_blk's queue_rq: 6.12 shows null_queue_rq; on 6.1 null_queue_rq ends in a tail
        # call to null_handle_cmd, so the unwinder sees that frame in its place.
        driver = re.compile(r"^null_(queue_rq|handle_cmd)\+\S+ \[null_blk\]$")
        entry = re.compile(r"^(ksys_read|__x64_sys_read)\+")
        whole = [b for b in complete if any(driver.match(f) for f in b[3])
                 and any(entry.match(f) for f in b[3])]
        expect(whole, "no bio_complete path holds both null_blk's queue_rq and read(2)'s entry")
        data["completion path"] = whole[0][3]
        s = fs.stats()
        for hook in ("bio_submit", "bio_complete", "readahead"):
            calls = sum(b[1] for b in blocks if b[0] == hook)
            expect(calls == s[hook], f"{hook}: paths count {calls} calls, stats {s[hook]}")


@check
def major_fault_reaches_bio_submit(args, data):
    """A major fault on a cold mapping submits myfs's bio: a bio_submit path through filemap_fault."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    table = mkfs(args, device, "m=1M")
    with BlockMount(device, "trace=once") as fs:
        p = fs.file("m")
        mc.drop_caches()
        fs.reset()
        mc.touch_pages(p, 4)
        s = fs.stats()
        blocks = _blocks(fs.paths())
        data.update(stats=nonzero(s), paths=[b for b in blocks if b[0] == "bio_submit"])
        expect(s["fault_major"] >= 1 and s["bio_submit"] >= 1, f"counters: {nonzero(s)}")
        through = [b for b in blocks if b[0] == "bio_submit" and any(
            f.startswith("filemap_fault+") for f in b[3])]
        expect(through, "no bio_submit path goes through filemap_fault")
        expect(any(f.startswith(("handle_mm_fault+", "asm_exc_page_fault+")) for f in through[0][3]),
               f"the fault's bio_submit path does not reach the page fault: {through[0][3]}")
        verify_file(p, *table["m"][:2])


def kernel_faults(path, pages=12):
    """Makes the kernel fault on `pages` pages of a private writable mapping of `path`, each
    page from a different syscall's copy to user space."""
    fd = os.open(path, os.O_RDONLY)
    zero = os.open("/dev/zero", os.O_RDONLY)
    size = pages * PAGE
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE, fd, 0)
    expect(addr not in (None, ctypes.c_void_p(-1).value), "a private writable mapping failed")
    v = ctypes.c_void_p
    sys_nr = {"clock_gettime": 228, "getrandom": 318, "uname": 63, "sysinfo": 99, "getcwd": 79,
              "pipe": 22, "times": 100, "getrusage": 98, "statfs": 137, "read": 0,
              "getitimer": 36, "sched_getaffinity": 204}
    calls = [("clock_gettime", lambda a: (0, v(a))), ("getrandom", lambda a: (v(a), 16, 0)),
             ("uname", lambda a: (v(a),)), ("sysinfo", lambda a: (v(a),)),
             ("getcwd", lambda a: (v(a), 256)), ("pipe", lambda a: (v(a),)),
             ("times", lambda a: (v(a),)), ("getrusage", lambda a: (0, v(a))),
             ("statfs", lambda a: (ctypes.c_char_p(b"/"), v(a))), ("read", lambda a: (zero, v(a), 64)),
             ("getitimer", lambda a: (0, v(a))), ("sched_getaffinity", lambda a: (0, 128, v(a)))]
    try:
        for i, (name, argv) in enumerate(calls[:pages]):
            ret = libc.syscall(ctypes.c_long(sys_nr[name]), *argv(addr + i * PAGE))
            expect(ret >= 0, f"{name} into the mapping failed: {os.strerror(ctypes.get_errno())}")
            if name == "pipe":
                fds = (ctypes.c_int * 2).from_address(addr + i * PAGE)
                os.close(fds[0])
                os.close(fds[1])
    finally:
        libc.munmap(ctypes.c_void_p(addr), size)
        os.close(zero)
        os.close(fd)


@check
def paths_every_stack(args, data):
    """paths keeps every distinct stack per hook (up to 8) with its calls, and counts the
    rest in an `unrecorded` block; the calls add up to the counter."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    mkfs(args, device, "p=64K")  # 16 pages
    with BlockMount(device, "trace=once") as fs:
        p = fs.file("p")
        mc.read_all(p)
        sink = fs.file("sink")  # a memory file
        fd = os.open(p, os.O_RDONLY)
        out = os.open(sink, os.O_RDWR | os.O_CREAT)
        r, w = os.pipe()
        try:
            ways = [lambda: os.read(fd, 100), lambda: os.pread(fd, 100, 0),
                    lambda: os.readv(fd, [bytearray(100)]), lambda: os.preadv(fd, [bytearray(100)], 0),
                    lambda: os.preadv(fd, [bytearray(100)], 0, os.RWF_HIPRI),
                    lambda: os.sendfile(out, fd, 0, 100), lambda: os.splice(fd, w, 100, offset_src=0),
                    lambda: os.copy_file_range(fd, out, 100, 0, 0)]
            for way in ways:
                os.lseek(fd, 0, 0)
                for _ in range(3):
                    way()
                    if way is ways[6]:
                        os.read(r, 100)
        finally:
            os.close(fd)
            os.close(out)
            os.close(r)
            os.close(w)
        script = fs.file("script")  # execve reads it with kernel_read: another stack
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(script, 0o755)
        for _ in range(2):
            run([script])
        # finit_module reads a file with kernel_read from the module loader: one more
        # stack (the file is no module, so the loader refuses it after reading it).
        fd = os.open(script, os.O_RDONLY)
        try:
            refused = libc.syscall(mc.SYS_FINIT_MODULE, fd, b"", 0) != 0
        finally:
            os.close(fd)
        expect(refused, "finit_module accepted a shell script")
        # Page faults taken inside the kernel, each by another syscall writing into a
        # private writable mapping of the image file (do_cow_fault calls ->fault): at
        # least 9 distinct fault stacks, so 8 kept and the rest `unrecorded`.
        kernel_faults(p)
        text = fs.paths()
        s = fs.stats()
        data["paths"] = text[:20000]
        blocks = _blocks(text)
        reads = [b for b in blocks if b[0] == "read_iter"]
        data["read_iter blocks"] = [(b[1], b[2], b[3][1:4]) for b in reads]
        # read, pread64, readv, preadv(2), execve and finit_module on both kernels (6.1
        # also reaches read_iter from sendfile, splice and copy_file_range; 6.12's
        # filemap_splice_read does not): at least 6 distinct stacks.
        expect(len(reads) >= 6 and len({tuple(b[3]) for b in reads}) == len(reads),
               f"read_iter: {len(reads)} blocks, some alike: {data['read_iter blocks']}")
        faults = [b for b in blocks if b[0] == "fault"]
        kept = [b for b in faults if not b[2]]
        rest = [b for b in faults if b[2]]
        data["fault blocks"] = [(b[1], b[2], b[3][-3:]) for b in faults]
        expect(len(kept) == 8 and len({tuple(b[3]) for b in kept}) == 8,
               f"{len(kept)} distinct fault stacks kept, not 8: {data['fault blocks']}")
        expect(len(rest) == 1 and rest[0][3] == [] and rest[0] is faults[-1] and rest[0][1] >= 1,
               f"no single frameless `unrecorded` block last among fault's: {data['fault blocks']}")
        for hook in {b[0] for b in blocks}:
            calls = sum(b[1] for b in blocks if b[0] == hook)
            expect(calls == s[hook], f"{hook}: blocks count {calls} calls, stats {s[hook]}")
        expect(fs.remount("trace=once") == 0 and fs.paths() == "", "a remount naming trace= did not clear paths")


@check
def options_in_block_mode(args, data):
    """read=read, fault_around=off, counters=off and read_latency_ns work in block mode;
    synthetic with a block device is EINVAL with its message; stats lists every counter."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    table = mkfs(args, device, "o=1M")
    ino = table["o"][1]
    with BlockMount(device, "read=read") as fs:
        with open(f"{fs.sys}/stats") as f:
            names = [line.split()[0] for line in f.read().splitlines()]
        expect(names == COUNTERS, f"stats names/order: {names}")
        mc.drop_caches()
        fs.reset()
        with open(fs.file("o"), "rb", buffering=0) as f:
            got = os.read(f.fileno(), MIB)
        s = fs.stats()
        data["read=read"] = nonzero(s)
        expect(got == expected_bytes(ino, 0, MIB), "read=read bytes differ")
        expect(s["read"] == 1 and s["read_iter"] == 0 and s["bio_pages"] == 256, f"read=read: {nonzero(s)}")
        expect(fs.remount("fault_around=off") == 0, "remount fault_around=off failed")
        fs.reset()
        mc.touch_pages(fs.file("o"), 64)
        s = fs.stats()
        data["fault_around=off"] = nonzero(s)
        expect(s["fault"] == 64 and s["map_pages"] == 0, f"fault_around=off, warm: {nonzero(s)}")
        expect(fs.remount("counters=off") == 0, "remount counters=off failed")
        fs.reset()
        mc.drop_caches()
        mc.read_all(fs.file("o"))
        expect(not nonzero(fs.stats()), f"counters=off counted: {nonzero(fs.stats())}")
    latency = 2_000_000
    with BlockMount(device, f"read_latency_ns={latency}") as fs:
        mc.drop_caches()
        fs.reset()
        start = time.monotonic_ns()
        mc.read_all(fs.file("o"))
        elapsed = time.monotonic_ns() - start
        s = fs.stats()
        calls = s["readahead"] + s["read_folio"]
        data["read_latency_ns"] = {"calls": calls, "elapsed_ms": elapsed / 1e6}
        expect(calls > 0 and elapsed >= calls * latency, f"{calls} reads in {elapsed / 1e6:.1f} ms")
        expect(f"read_latency_ns={latency}" in fs.mount_options(), f"options {fs.mount_options()}")
    os.makedirs(WORK, exist_ok=True)
    target = tempfile.mkdtemp(dir=WORK)
    try:
        before = len(kernel_log())
        err = sys_mount(target, "synthetic", source=device)
        if err == 0:
            mc.sys_umount(target)
        log = [_strip(x) for x in kernel_log()[before:]]
        data["synthetic"] = {"errno": errno.errorcode.get(err, err), "log": log}
        expect(err == errno.EINVAL, f"synthetic on a block device: {errno.errorcode.get(err, err)}")
        expect("myfs: synthetic and a block device exclude each other" in log, f"log: {log}")
    finally:
        os.rmdir(target)


def _strip(line):
    return re.sub(r"^\[\s*[\d.]+\]\s*", "", line)


# ---- corrupt images ----

def image(files, *, magic=b"myfsblk1", version=1, block_size=4096, total=None,
          table_blocks=None, nr_files=None):
    """A layout-v1 image as bytes (data blocks filled with the content function), with
    fields overridable to make it wrong. files: [(name bytes, size, start or None, ino)]."""
    table_blocks = -(-len(files) // 64) if table_blocks is None else table_blocks
    entries, data, nxt = [], {}, 1 + max(table_blocks, -(-len(files) // 64))
    for name, size, start, ino in files:
        start = nxt if start is None else start
        nxt = max(nxt, start + -(-size // BLOCK))
        entries.append(name.ljust(40, b"\0")[:40] + struct.pack("<QQII", size, start, ino, 0))
        if start > max(table_blocks, -(-len(files) // 64)):  # never over the table
            data[start] = expected_bytes(ino, 0, size)
    total = nxt if total is None else total
    sb = magic + struct.pack("<IIQII", version, block_size, total,
                             len(files) if nr_files is None else nr_files, table_blocks)
    out = bytearray(sb.ljust(BLOCK, b"\0"))
    out += b"".join(entries).ljust(max(table_blocks, -(-len(files) // 64)) * BLOCK, b"\0")
    size = max([len(out)] + [s * BLOCK + len(d) for s, d in data.items()])
    out = out.ljust(-(-size // BLOCK) * BLOCK, b"\0")
    for start, d in data.items():
        out[start * BLOCK:start * BLOCK + len(d)] = d
    return bytes(out)


def write_device(device, blob):
    fd = os.open(device, os.O_WRONLY)
    try:
        os.pwrite(fd, blob, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def device_blocks(device):
    with open(f"/sys/block/{disk_name(device)}/size") as f:
        return int(f.read()) * 512 // BLOCK


@check
def corrupt_images_refused(args, data):
    """Corrupt and truncated images refuse to mount: EINVAL, one `myfs: /dev/X: ...` line
    naming the fault, no oops or warning."""
    mc.load_module(args.ko)
    device = null_blk(irqmode=0)
    dev_blocks = device_blocks(device)
    good = [(b"a", 5000, None, 2), (b"b", 3 * BLOCK, None, 3)]
    cases = {
        "bad magic": (image(good, magic=b"myfsblk2"), "bad magic"),
        "bad version": (image(good, version=2), "unsupported version 2"),
        "block size": (image(good, block_size=512), "block size 512, not 4096"),
        "table past end": (image(good, table_blocks=9, total=5), "does not fit"),
        "more files than the table holds": (image(good, nr_files=65), "cannot hold 65 files"),
        "overlapping files": (image([(b"a", 3 * BLOCK, 2, 2), (b"b", BLOCK, 4, 3)]), "overlap"),
        "file over the table": (image([(b"a", BLOCK, 1, 2)], total=3), "overlap the file table"),
        "duplicate name": (image([(b"a", 10, None, 2), (b"a", 10, None, 3)]), "file name a repeats"),
        "duplicate inode": (image([(b"a", 10, None, 2), (b"b", 10, None, 2)]), "inode number 2 repeats"),
        "inode below 2": (image([(b"a", 10, None, 1)]), "inode number 1 < 2"),
        "empty name": (image([(b"", 10, None, 2)]), "name is empty"),
        "slash in name": (image([(b"a/b", 10, None, 2)]), "contains '/'"),
        "name not terminated": (image([(b"n" * 40, 10, None, 2)]), "not NUL-terminated"),
        "file past the end": (image([(b"a", 8 * BLOCK, None, 2)], total=4), "pass the end of the image"),
        "truncated device": (image([(b"a", BLOCK, None, 2)], total=dev_blocks + 1),
                             f"total blocks {dev_blocks + 1} larger than the device ({dev_blocks} blocks)"),
    }
    os.makedirs(WORK, exist_ok=True)
    target = tempfile.mkdtemp(dir=WORK)
    seen = {}
    try:
        for what, (blob, message) in cases.items():
            write_device(device, blob)
            before = len(kernel_log())
            err = sys_mount(target, source=device)
            if err == 0:
                mc.sys_umount(target)
            new = [_strip(line) for line in kernel_log()[before:]]
            seen[what] = {"errno": errno.errorcode.get(err, err), "log": new}
            expect(err == errno.EINVAL, f"{what}: mount gave {errno.errorcode.get(err, err)}, not EINVAL")
            mine = [line for line in new if line.startswith("myfs: ")]
            expect(len(mine) == 1 and mine[0].startswith(f"myfs: {device}: ") and message in mine[0],
                   f"{what}: log {new}, wanted one line `myfs: {device}: ...{message}...`")
            bad = [line for line in new if BAD_LOG.search(line)]
            expect(not bad, f"{what}: kernel log {bad}")
        # The same image, whole, mounts: the checks refuse only what is wrong.
        write_device(device, image(good))
        err = sys_mount(target, source=device)
        expect(err == 0, f"a good hand-made image did not mount: {os.strerror(err)}")
        try:
            for name, size, _start, ino in good:
                verify_file(os.path.join(target, name.decode()), size, ino)
        finally:
            mc.sys_umount(target)
    finally:
        data["cases"] = seen
        os.rmdir(target)


# ---- load/mount cycles ----

def _cycle(args, device, index):
    mc.load_module(args.ko)
    with BlockMount(device, "trace=once" if index % 2 else "") as fs:
        mc.read_all(fs.file("c"))
        mc.touch_pages(fs.file("c"), 16)
        fd = os.open(fs.file("c"), os.O_RDONLY | O_DIRECT)
        buf = mmap.mmap(-1, 64 * 1024)
        os.preadv(fd, [buf], 0)
        os.close(fd)
        buf.close()
        with open(fs.file("new"), "w") as f:
            f.write("x" * 10000)
        os.mkdir(fs.file("d"))
        fs.stats()
        fs.paths()
    err = mc.unload_module()
    if err:
        raise CheckFailed(f"rmmod in cycle {index}: {os.strerror(err)}")


@check
def load_mount_cycles_leak_nothing(args, data):
    """insmod/mount/read (buffered, mmap, O_DIRECT)/umount/rmmod cycles in block mode leak no
    slab, vmalloc or free memory and warn nothing (myfs_checks.cycles_leak_nothing)."""
    if not args.ko:
        raise Skip("no --ko given")
    if mc.module_loaded() and mc.unload_module():
        raise Skip("myfs is loaded and in use, so it cannot be cycled")
    device = null_blk(irqmode=1)
    mkfs(args, device, "c=256K")
    mc.cycles_leak_nothing(lambda i: _cycle(args, device, i), args.cycles, data)
    mc.load_module(args.ko)


# ---- driver ----

class Watchdog(threading.Thread):
    """If one check runs past `seconds`, prints where every task of this process waits
    (and the kernel's list of blocked tasks, sysrq w) and exits 3: a hung check says where
    it hung instead of running into the guest's timeout with no word."""

    def __init__(self, seconds):
        super().__init__(daemon=True)
        self.seconds, self.check, self.started = seconds, None, time.monotonic()

    def arm(self, name):
        self.check, self.started = name, time.monotonic()

    def run(self):
        while True:
            time.sleep(1)
            if self.check and time.monotonic() - self.started > self.seconds:
                break
        print(f"fail {self.check}: still running after {self.seconds} s; kernel stacks:", flush=True)
        for tid in sorted(os.listdir("/proc/self/task")):
            try:
                with open(f"/proc/self/task/{tid}/stack") as f:
                    print(f"  task {tid}:\n" + f.read(), flush=True)
            except OSError:
                pass
        try:
            with open("/proc/sysrq-trigger", "w") as f:
                f.write("w")
        except OSError:
            pass
        print("\n".join(kernel_log()[-80:]), flush=True)
        os._exit(3)


def main():
    parser = argparse.ArgumentParser(
        description="Run myfs's block-mode checks in a readpath guest; JSON results to $READPATH_OUT.",
        epilog="Checks: " + ", ".join(fn.__name__ for fn in CHECKS))
    parser.add_argument("--ko", help="myfs.ko built for this kernel")
    parser.add_argument("--mkfs", required=True, help="the tools/mkfs.myfs binary")
    parser.add_argument("--no-virtio-reason", help="why no virtio-blk drive is attached (skips its check)")
    parser.add_argument("--only", help="comma-separated check names to run (default: all)")
    parser.add_argument("--cycles", type=int, default=120, help="load/mount cycles for the leak check")
    parser.add_argument("--out", default=os.environ.get("READPATH_OUT"),
                        help="directory for block_checks.json (default $READPATH_OUT)")
    parser.add_argument("--watchdog", type=float, default=600,
                        help="seconds one check may run before its stacks are dumped and the run ends")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("run as root inside a guest (scripts/readpath vm ...)")
    args.mkfs = os.path.abspath(args.mkfs)
    chosen = mc.choose_checks(parser, args.only, CHECKS)
    out_file = os.path.join(args.out, "block_checks.json") if args.out else None
    watchdog = Watchdog(args.watchdog)
    watchdog.start()
    failures = mc.run_checks(
        chosen, args, out_file,
        lambda data: ("predicted", "seen", "read_ahead_kb=1024", "stats", "disk"),
        before=watchdog.arm)
    shutil.rmtree(WORK, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
