"""What myfs runs on: `--backing SPEC`, `--scheduler` and `--read-ahead-kb`, parsed and
checked once here, and the guest shell that makes the device, formats it with
mkfs.myfs, and mounts myfs on it (docs/contracts.md, "Backings in a guest").

    memory                       page-cache mode: synthetic files, no device (the default)
    null_blk[:k=v,...]           modprobe null_blk nr_devices=1 memory_backed=1 k=v...
    brd[:rd_size=KiB]            modprobe brd rd_nr=1 max_part=0 rd_size=KiB
    virtio[:file=PATH]           a host file as a virtio-blk disk, host page cache bypassed
    device:/dev/X                a host block device (run on a host that loads modules,
                                 with --format-device: mkfs destroys what it holds)

One table (PARAMETERS) names the parameters each backing takes and how each is checked;
nothing else keeps a list of them.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

BLOCK = 4096
MAGIC = b"myfsblk1"


def _whole(low, high=None):
    def check(name, text):
        if not re.fullmatch(r"\d+", text) or int(text) < low or (high is not None and int(text) > high):
            span = f"{low}..{high}" if high is not None else f"≥ {low}"
            raise UsageError(f"{name} takes a whole number {span}, not {text!r}")
        return str(int(text))
    return check


def _choice(*values):
    def check(name, text):
        if text not in values:
            raise UsageError(f"{name} takes one of {', '.join(values)}, not {text!r}")
        return text
    return check


def _path(name, text):
    if not text:
        raise UsageError(f"{name} takes a path")
    return str(Path(text).expanduser().resolve())


# backing → {parameter: checker(name, text) → canonical text}
PARAMETERS = {
    "memory": {},
    "null_blk": {"completion_nsec": _whole(0), "irqmode": _choice("0", "1", "2"),
                 "queue_mode": _choice("0", "2"), "hw_queue_depth": _whole(1),
                 "gb": _whole(1)},
    "brd": {"rd_size": _whole(1)},
    "virtio": {"file": _path},
    "device": {},   # device:/dev/X, a path rather than parameters
}
SCHEDULERS = ("none", "mq-deadline", "kyber", "bfq")
# The module that provides a scheduler where the kernel builds it as one (Debian: kyber
# and bfq); modprobe of a built-in one succeeds and does nothing.
SCHEDULER_MODULES = {"mq-deadline": "mq-deadline", "kyber": "kyber-iosched", "bfq": "bfq"}
# The device each in-guest backing makes, and the modules it loads.
DEVICE = {"null_blk": "nullb0", "brd": "ram0"}
FIXED = {"null_blk": "nr_devices=1 memory_backed=1", "brd": "rd_nr=1 max_part=0"}
SYNTAX = ("memory, null_blk[:k=v,...], brd[:rd_size=KiB], virtio[:file=PATH] "
          "or device:/dev/X")


@dataclass(frozen=True)
class Backing:
    kind: str                     # a key of PARAMETERS
    params: tuple = ()            # ((name, canonical value), ...), in the order given
    path: str = ""                # device: the block device
    scheduler: str = ""           # "" leaves the device's own
    read_ahead_kb: int = None     # None leaves the device's own

    @property
    def block(self):
        return self.kind != "memory"

    @property
    def spec(self):
        """The backing as the user would write it, canonical (`null_blk:completion_nsec=0`)."""
        if self.kind == "device":
            return f"device:{self.path}"
        return self.kind + (":" + ",".join(f"{k}={v}" for k, v in self.params) if self.params else "")

    def param(self, name, default=None):
        return dict(self.params).get(name, default)

    def record(self):
        """What a result folder keeps of it (backing.json)."""
        return {"backing": self.spec, "scheduler": self.scheduler or None,
                "read_ahead_kb": self.read_ahead_kb}


MEMORY = Backing("memory")


def parse(spec, scheduler=None, read_ahead_kb=None):
    """`--backing`, `--scheduler`, `--read-ahead-kb` → a Backing; UsageError (one line) for
    an unknown backing, parameter or scheduler, a bad value, or settings without a device."""
    spec = (spec or "memory").strip()
    kind, sep, rest = spec.partition(":")
    if kind not in PARAMETERS:
        raise UsageError(f"unknown backing {kind!r}; use {SYNTAX}")
    path, params = "", []
    if kind == "device":
        if not rest.startswith("/dev/") or len(rest) <= len("/dev/"):
            raise UsageError(f"backing device takes a block device, e.g. device:/dev/sdb, not {spec!r}")
        path = rest
    elif sep:
        allowed = PARAMETERS[kind]
        if not allowed:
            raise UsageError(f"backing {kind} takes no parameters; use --backing {kind}")
        seen = set()
        for item in rest.split(","):
            name, eq, value = item.partition("=")
            name = name.strip()
            if name not in allowed:
                raise UsageError(f"backing {kind} has no parameter {name!r}; it takes "
                                 f"{', '.join(allowed)}")
            if not eq:
                raise UsageError(f"backing {kind}: give {name}=VALUE, not {item!r}")
            if name in seen:
                raise UsageError(f"backing {kind}: {name} is given twice")
            seen.add(name)
            params.append((name, allowed[name](f"{kind} {name}", value.strip())))
    if scheduler is not None and scheduler not in SCHEDULERS:
        raise UsageError(f"unknown scheduler {scheduler!r}; use one of {', '.join(SCHEDULERS)}")
    if read_ahead_kb is not None and (not isinstance(read_ahead_kb, int) or read_ahead_kb < 0):
        raise UsageError(f"--read-ahead-kb takes a whole number ≥ 0, not {read_ahead_kb!r}")
    if kind == "memory" and (scheduler or read_ahead_kb is not None):
        raise UsageError("--scheduler and --read-ahead-kb set a block device's queue; the memory "
                         "backing has none (give --backing null_blk, brd or virtio)")
    return Backing(kind, tuple(params), path, scheduler or "", read_ahead_kb)


def read_ahead(text):
    """argparse type for --read-ahead-kb."""
    if not re.fullmatch(r"\d+", text.strip()):
        import argparse
        raise argparse.ArgumentTypeError(f"takes a whole number of KiB ≥ 0, not {text!r}")
    return int(text)


def add_arguments(parser):
    """--backing, --scheduler, --read-ahead-kb: for every command that runs the suite."""
    parser.add_argument("--backing", default="memory", metavar="SPEC",
                        help="what myfs runs on: memory (page-cache mode, default), "
                             "null_blk[:completion_nsec=N,irqmode=0|1|2,queue_mode=0|2,"
                             "hw_queue_depth=N,gb=N], brd[:rd_size=KiB], virtio[:file=PATH] "
                             "(a host file, host page cache bypassed); the guest formats the "
                             "device with mkfs.myfs and mounts myfs on it")
    parser.add_argument("--scheduler", metavar="NAME",
                        help=f"I/O scheduler of the backing device: {', '.join(SCHEDULERS)} "
                             "(default: the device's own)")
    parser.add_argument("--read-ahead-kb", type=read_ahead, metavar="N",
                        help="read_ahead_kb of the backing device (default: the device's own)")


def from_args(args):
    return parse(args.backing, args.scheduler, args.read_ahead_kb)


# ---------------------------------------------------------------- sizes

def image_bytes(sizes):
    """Bytes of the image mkfs.myfs --engine-sizes makes for these file sizes: superblock,
    table (64 entries per block), each file's data from a block boundary."""
    table = -(-len(sizes) // 64)
    return BLOCK * (1 + table + sum(-(-s // BLOCK) for s in sizes))


def device_bytes(backing):
    """The in-guest device's size as its parameters set it; None when they leave it open
    (null_blk's default is 250 GiB, allocated as written; virtio's default file is sized
    to fit)."""
    if backing.kind == "null_blk" and backing.param("gb"):
        return int(backing.param("gb")) << 30
    if backing.kind == "brd" and backing.param("rd_size"):
        return int(backing.param("rd_size")) << 10
    return None


def default_rd_size_kib(sizes):
    """brd's rd_size when not given: the image and 1 MiB to spare, in whole MiB."""
    return (-(-image_bytes(sizes) // (1 << 20)) + 1) * 1024


def check_fits(backing, sizes):
    """UsageError when the device the parameters ask for cannot hold the image."""
    have, need = device_bytes(backing), image_bytes(sizes)
    if have is not None and have < need:
        raise UsageError(f"backing {backing.spec} holds {have >> 20} MiB, but the profile's files "
                         f"need {-(-need // (1 << 20))} MiB; give a larger size")


def prepare_virtio_file(backing, sizes, default_path):
    """The host file a virtio backing attaches: file=PATH, or default_path (removed by the
    caller after the run). A missing one is created sparse, sized to fit; an existing one
    must be large enough and empty or a myfs image already (mkfs.myfs overwrites it)."""
    path = Path(backing.param("file") or default_path)
    need = -(-image_bytes(sizes) // (1 << 20)) * (1 << 20)
    if path.exists():
        if not path.is_file():
            raise UsageError(f"virtio file={path} is not a regular file")
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
        if path.stat().st_size and head.strip(b"\0") and head != MAGIC:
            raise UsageError(f"virtio file={path} holds data that is not a myfs image, and "
                             "mkfs.myfs would overwrite it; remove it or name a new file")
        if path.stat().st_size < need:
            with open(path, "r+b") as f:
                f.truncate(need)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.truncate(need)
        except OSError as err:
            raise UsageError(f"cannot create virtio file {path}: {err.strerror}") from None
    return path


# ---------------------------------------------------------------- the guest's side

BAD_BACKING = 4    # the guest's exit status when the device refuses a setting (usage)
SETUP_FAILED = 5   # ... when making or formatting it failed (a run error)


def guest_prelude():
    """Shell functions the setup lines use; $O is the guest's output directory."""
    return [
        'bad() { echo "$*" > "$O/bad-backing"; exit %d; }' % BAD_BACKING,
        'failed() { echo "$*" > "$O/setup-failed"; exit %d; }' % SETUP_FAILED,
        # a device node appears when its driver's probe has run; wait up to 5 s
        'wait_dev() { n=0; until [ -b "/dev/$1" ]; do n=$((n+1)); '
        '[ $n -ge 50 ] && failed "/dev/$1 did not appear"; sleep 0.1; done; }',
    ]


def _sizes_line(sizes):
    """Shell: S = the file sizes for the accelerator the guest runs under."""
    tcg, other = (",".join(str(s) for s in sizes[k]) for k in ("tcg", "other"))
    return f'if [ "$READPATH_ACCEL" = tcg ]; then S={tcg}; else S={other}; fi'


def guest_setup(backing, *, sizes, mkfs, drive=None, note='"$O/devices"'):
    """Shell lines that (after the caller has unmounted myfs) make the backing's device
    with its parameters, set its scheduler and read_ahead_kb, format it with `mkfs`
    --engine-sizes for the accelerator's file sizes (sizes: {"tcg": [...], "other": [...]})
    leaving its kernel name in $DEV for the caller's mount (mount_source). `drive` is the
    1-based word of $READPATH_DRIVES for virtio. A setting the device refuses exits
    BAD_BACKING with one line in $O/bad-backing; a failure to make or format it exits
    SETUP_FAILED with one line in $O/setup-failed. The device is also noted, as the guest
    found it, in the file `note` (shell words)."""
    q = shlex.quote
    lines = []
    if backing.kind in ("null_blk", "brd"):
        module = backing.kind
        params = FIXED[module].split() + [f"{k}={v}" for k, v in backing.params]
        if module == "brd" and not backing.param("rd_size"):
            big = max(sizes["tcg"], sizes["other"], key=image_bytes)
            params.append(f"rd_size={default_rd_size_kib(big)}")
        dev = DEVICE[module]
        lines += [
            # the previous configuration's device: a module left loaded would keep its
            # parameters (modprobe of a loaded module changes nothing), so wait until it goes
            f"n=0; while [ -d /sys/module/{module} ] && ! rmmod {module} 2>/dev/null; do "
            f'n=$((n+1)); [ $n -ge 50 ] && failed "{module} is still in use and will not unload"; '
            "sleep 0.1; done",
            f'modprobe {module} {" ".join(params)} 2>"$O/setup.err" || '
            f'bad "modprobe {module} {" ".join(params)} failed: $(tail -n 1 "$O/setup.err")"',
            f"DEV={dev}; wait_dev $DEV",
        ]
        for name, value in backing.params:
            lines.append(f'[ "$(cat /sys/module/{module}/parameters/{name})" = {value} ] || '
                         f'failed "{module} has {name}=$(cat /sys/module/{module}/parameters/{name}), '
                         f'not {value}"')
    elif backing.kind == "virtio":
        lines += [f"DEV=$(echo $READPATH_DRIVES | cut -d' ' -f{drive}); DEV=${{DEV#/dev/}}",
                  f'[ -n "$DEV" ] || failed "virtio drive {drive} is missing from READPATH_DRIVES"',
                  "wait_dev $DEV"]
    elif backing.kind == "device":
        lines += [f"DEV={q(backing.path[len('/dev/'):])}; wait_dev $DEV"]
    else:
        raise ValueError("the memory backing has no device to set up")
    lines.append('Q=/sys/block/$DEV/queue')
    if backing.scheduler:
        sched = backing.scheduler
        module = SCHEDULER_MODULES.get(sched)
        if module:
            lines.append(f"modprobe {module} 2>/dev/null || true")
        lines += [
            # a bio-based device (brd) has no scheduler file (6.12) or `none` without a choice
            f'if ! grep -qs "\\[" $Q/scheduler; then [ {sched} = none ] || '
            f'bad "$DEV is bio-based and has no I/O scheduler to set ({sched}); leave --scheduler out"; '
            f'else grep -q "\\[{sched}\\]" $Q/scheduler || {{ '
            f'tr -d "[]" < $Q/scheduler | tr " " "\\n" | grep -qx {sched} || '
            f'bad "$DEV does not offer the {sched} scheduler; it offers: $(tr -d "[]" < $Q/scheduler)"; '
            f'echo {sched} > $Q/scheduler 2>"$O/setup.err" || '
            f'bad "$DEV refused the {sched} scheduler: $(tail -n 1 "$O/setup.err")"; }}; fi',
        ]
    if backing.read_ahead_kb is not None:
        lines.append(f'echo {backing.read_ahead_kb} > $Q/read_ahead_kb 2>"$O/setup.err" || '
                     f'bad "$DEV refused read_ahead_kb {backing.read_ahead_kb}: $(tail -n 1 "$O/setup.err")"')
    lines += [
        _sizes_line(sizes),
        f'{q(str(mkfs))} /dev/$DEV --engine-sizes $S > "$O/mkfs.log" 2>&1 || '
        f'failed "mkfs.myfs /dev/$DEV --engine-sizes $S failed: $(tail -n 1 "$O/mkfs.log")"',
        f'echo "{backing.spec} /dev/$DEV scheduler $(cat $Q/scheduler 2>/dev/null || echo n/a) read_ahead_kb '
        f'$(cat $Q/read_ahead_kb)" >> ' + note,
    ]
    return lines


def mount_source(backing):
    """What `mount -t myfs` mounts: the device in block mode, `myfs` in page-cache mode."""
    return "/dev/$DEV" if backing.block else "myfs"
