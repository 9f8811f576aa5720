"""--backing, --scheduler, --read-ahead-kb: the grammar (backing.parse), the guest shell
that makes, sets and formats the device (run here under sh against a fake sysfs and fake
modprobe/mkfs), virtio drives (vm.check_drive), and the commands' one-line refusals."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from readpath_lib import backing, guest_suite  # noqa: E402
from readpath_lib.errors import UsageError  # noqa: E402
from readpath_lib.vm import guest  # noqa: E402

READPATH = [sys.executable, str(REPO / "scripts" / "readpath")]


@pytest.mark.parametrize("spec, kind, params, canonical", [
    (None, "memory", (), "memory"),
    ("memory", "memory", (), "memory"),
    ("null_blk", "null_blk", (), "null_blk"),
    ("null_blk:completion_nsec=0200000,irqmode=2", "null_blk",
     (("completion_nsec", "200000"), ("irqmode", "2")), "null_blk:completion_nsec=200000,irqmode=2"),
    ("brd:rd_size=65536", "brd", (("rd_size", "65536"),), "brd:rd_size=65536"),
    ("device:/dev/sdb", "device", (), "device:/dev/sdb"),
])
def test_parse_accepts_and_canonicalizes(spec, kind, params, canonical):
    b = backing.parse(spec)
    assert (b.kind, b.params, b.spec) == (kind, params, canonical)
    assert backing.parse(b.spec) == b   # the canonical spelling reads back the same


@pytest.mark.parametrize("spec, scheduler, ra, words", [
    ("nvme", None, None, "unknown backing 'nvme'"),
    ("null_blk:foo=1", None, None, "no parameter 'foo'"),
    ("null_blk:completion_nsec=-5", None, None, "whole number"),
    ("null_blk:irqmode=3", None, None, "one of 0, 1, 2"),
    ("null_blk:queue_mode=1", None, None, "one of 0, 2"),
    ("null_blk:gb", None, None, "give gb=VALUE"),
    ("null_blk:gb=1,gb=2", None, None, "given twice"),
    ("brd:gb=1", None, None, "takes rd_size"),
    ("memory:x=1", None, None, "takes no parameters"),
    ("device:sdb", None, None, "device:/dev/sdb"),
    ("null_blk", "cfq", None, "unknown scheduler 'cfq'"),
    ("memory", "kyber", None, "memory backing has none"),
    ("memory", None, 128, "memory backing has none"),
])
def test_parse_refuses_with_one_line(spec, scheduler, ra, words):
    with pytest.raises(UsageError) as err:
        backing.parse(spec, scheduler, ra)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_every_parameter_in_the_table_is_accepted_and_nothing_else():
    for kind, params in backing.PARAMETERS.items():
        for name in params:
            value = "/x/y.img" if name == "file" else "2"
            assert backing.parse(f"{kind}:{name}={value}").param(name) is not None
    with pytest.raises(UsageError):
        backing.parse("virtio:completion_nsec=1")


def test_image_size_matches_the_on_disk_layout():
    # superblock + one table block + 256 data blocks for 1 MiB; a partial block rounds up
    assert backing.image_bytes([1 << 20]) == 4096 * (1 + 1 + 256)
    assert backing.image_bytes([1 << 20, 1]) == 4096 * (1 + 1 + 256 + 1)
    assert backing.image_bytes([4096] * 65) == 4096 * (1 + 2 + 65)   # 64 entries per block
    with pytest.raises(UsageError, match="holds 1 MiB"):
        backing.check_fits(backing.parse("brd:rd_size=1024"), [1 << 20])
    backing.check_fits(backing.parse("brd:rd_size=2048"), [1 << 20])


def test_block_configs_drop_synthetic():
    assert guest_suite.Config("a").mount_options == "synthetic,trace=once"
    b = guest_suite.Config("b", "read=read", backing.parse("null_blk"))
    assert b.mount_options == "trace=once,read=read"


# ------------------------------------------------------------ the guest shell, run for real

def _fake_system(tmp_path, offered="[none] mq-deadline", missing_dev=False):
    """A directory standing for the guest: fake modprobe/rmmod/mkfs that log their argv,
    /sys/block/<dev>/queue files, and a block-device test that always holds."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls"
    for tool in ("modprobe", "rmmod", "mkfs"):
        path = bin_ / tool
        body = f'#!/bin/sh\necho "{tool} $*" >> {log}\n'
        if tool == "modprobe":   # a loaded module shows its parameters
            body += (f'm=$1; shift; mkdir -p {tmp_path}/module/$m/parameters; for kv; do '
                     f'echo "${{kv#*=}}" > {tmp_path}/module/$m/parameters/${{kv%%=*}}; done\n')
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    queue = tmp_path / "sys" / "nullb0" / "queue"
    queue.mkdir(parents=True)
    (queue / "scheduler").write_text(offered + "\n")
    (queue / "read_ahead_kb").write_text("128\n")
    out = tmp_path / "out"
    out.mkdir()
    return bin_, log, out


def _run_setup(tmp_path, b, **kw):
    bin_, log, out = _fake_system(tmp_path, **kw)
    lines = backing.guest_prelude() + backing.guest_setup(
        b, sizes={"tcg": [1 << 20], "other": [1 << 20, 16 << 20]}, mkfs=bin_ / "mkfs")
    # the fake sysfs stands for /sys/block, and its device directory for the device node
    script = 'O="$1"\n' + "\n".join(lines).replace("/sys/block/", f"{tmp_path}/sys/") \
        .replace("/sys/module/", f"{tmp_path}/module/") \
        .replace('[ -b "/dev/$1" ]', f'[ -d "{tmp_path}/sys/$1" ]')
    proc = subprocess.run(["bash", "-c", script, "sh", str(out)], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}",
                               "READPATH_ACCEL": "tcg"})
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls, out, tmp_path / "sys" / "nullb0" / "queue"


def test_guest_setup_loads_null_blk_with_its_parameters_sets_the_queue_and_formats(tmp_path):
    b = backing.parse("null_blk:completion_nsec=200000", "mq-deadline", 512)
    proc, calls, out, queue = _run_setup(tmp_path, b)
    assert proc.returncode == 0, proc.stderr
    assert "modprobe null_blk nr_devices=1 memory_backed=1 completion_nsec=200000" in calls
    assert "modprobe mq-deadline" in calls
    # TCG's file sizes, not KVM's
    assert calls[-1] == "mkfs /dev/nullb0 --engine-sizes 1048576"
    assert (queue / "scheduler").read_text().strip() == "mq-deadline"
    assert (queue / "read_ahead_kb").read_text().strip() == "512"
    assert (out / "devices").read_text().startswith("null_blk:completion_nsec=200000 /dev/nullb0 ")


def test_guest_setup_leaves_a_selected_scheduler_alone(tmp_path):
    proc, calls, out, queue = _run_setup(tmp_path, backing.parse("null_blk", "none"))
    assert proc.returncode == 0, proc.stderr
    assert (queue / "scheduler").read_text().strip() == "[none] mq-deadline"   # not written


def test_guest_setup_refuses_a_scheduler_the_device_does_not_offer(tmp_path):
    proc, calls, out, queue = _run_setup(tmp_path, backing.parse("null_blk", "bfq"))
    assert proc.returncode == backing.BAD_BACKING
    assert (out / "bad-backing").read_text() == \
        "nullb0 does not offer the bfq scheduler; it offers: none mq-deadline\n"
    assert not any(c.startswith("mkfs") for c in calls)   # nothing formatted after a refusal


def test_guest_setup_on_a_bio_based_device_takes_only_none(tmp_path):
    proc, _, out, _ = _run_setup(tmp_path, backing.parse("null_blk", "kyber"), offered="none")
    assert proc.returncode == backing.BAD_BACKING
    assert "bio-based" in (out / "bad-backing").read_text()


def test_guest_setup_sizes_brd_to_fit_the_larger_variant(tmp_path):
    lines = backing.guest_setup(backing.parse("brd"), mkfs="m",
                                sizes={"tcg": [1 << 20], "other": [1 << 20, 16 << 20]})
    need = backing.image_bytes([1 << 20, 16 << 20])
    kib = int(next(l for l in lines if l.startswith("modprobe brd")).split("rd_size=")[1].split()[0])
    assert need <= kib << 10 < need + (2 << 20)


def test_suite_script_sets_up_each_config_before_each_of_its_runs():
    configs = [guest_suite.Config("a", backing=backing.parse("null_blk:completion_nsec=0")),
               guest_suite.Config("b", backing=backing.parse("null_blk:completion_nsec=200000"))]
    script = guest_suite._script(Path("/b/readpath_bench"), ["--profile", "tiny"], configs, 2, 1,
                                 sizes={"tcg": [1 << 20], "other": [1 << 20]})
    subprocess.run(["sh", "-n", "-c", script], check=True)
    calls = [line for line in script.splitlines() if line.startswith("setup_") and "(" not in line]
    # both mount first, then a path run each, then rounds A B, B A
    assert calls == ["setup_0", "setup_1", "setup_0", "setup_1", "setup_0", "setup_1",
                     "setup_1", "setup_0"]
    assert "completion_nsec=200000" in script.split("setup_1() {")[1].split("}\n")[0]
    assert "mount -t myfs -o trace=once /dev/$DEV /mnt/myfs" in script


# ------------------------------------------------------------ virtio drives

def test_check_drive_refuses_missing_odd_sized_and_directories(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        guest.check_drive(tmp_path / "none.img")
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"x" * 1000)
    with pytest.raises(UsageError, match="multiple of 512"):
        guest.check_drive(odd)
    with pytest.raises(UsageError, match="directory"):
        guest.check_drive(tmp_path)
    good = tmp_path / "good.img"
    good.write_bytes(b"\0" * 4096)
    assert guest.check_drive(good) == good.resolve()
    argv = guest.drive_args([good, Path("/a,b.img")])
    assert argv[1] == f"file={good},if=none,format=raw,cache=none,aio=threads,id=rp_d0"
    assert argv[3] == "virtio-blk-pci,drive=rp_d0,serial=rp_d0"
    assert argv[5].startswith("file=/a,,b.img,")   # QEMU's comma escaping


def test_virtio_file_is_made_to_fit_and_foreign_data_is_kept(tmp_path):
    sizes = [1 << 20]
    made = backing.prepare_virtio_file(backing.parse("virtio"), sizes, tmp_path / "d.img")
    assert made.stat().st_size >= backing.image_bytes(sizes) and made.stat().st_size % (1 << 20) == 0
    foreign = tmp_path / "mine.img"
    foreign.write_bytes(b"precious" + b"\0" * 4088)
    with pytest.raises(UsageError, match="not a myfs image"):
        backing.prepare_virtio_file(backing.parse(f"virtio:file={foreign}"), sizes, None)
    assert foreign.read_bytes()[:8] == b"precious"


# ------------------------------------------------------------ the commands (no boot)

@pytest.mark.parametrize("argv, words", [
    (["compare-options", "fault_around=off", "--backing", "sata"], "unknown backing 'sata'"),
    (["compare-kernels", "6.1", "6.12", "--backing", "null_blk", "--scheduler", "cfq"],
     "unknown scheduler 'cfq'"),
    (["compare-options", "x", "--backing", "null_blk:depth=4"], "no parameter 'depth'"),
    (["run", "--no-vm", "--backing", "null_blk"], "--no-vm skips that run"),
    (["run", "--backing", "device:/dev/sdz"], "cannot load modules"),
    (["run", "--format-device"], "no device to format"),
    (["run", "--scheduler", "kyber"], "memory backing has none"),
])
def test_commands_refuse_bad_backings_with_one_line_and_exit_2(argv, words, tmp_path):
    proc = subprocess.run([*READPATH, *argv, "--no-build", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
