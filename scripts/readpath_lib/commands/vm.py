"""Boot a kernel in QEMU and run one command in it: the kernel test bench.

The guest sees the host's root (9p, as virtme-ng does), so it can run fio, stress-ng,
python3 or anything built in the tree; the checkout and build tree appear at their host
paths. The root is writable: a tmpfs overlay (virtme-ng's --overlay-rwdir, for all of
it) keeps what the guest writes (a build tree, ~/.cache, /etc) in guest memory, and the
host's files are never written. /tmp, /var/tmp, /mnt, /dev/shm and /run are tmpfs. Files
the command writes under $READPATH_OUT land in --out; nothing else comes back. The guest
environment also carries READPATH_ACCEL (kvm or tcg) and READPATH_GUEST=1.

--drive FILE attaches a host file as a virtio-blk disk (raw, QEMU cache=none: the guest's
reads go to the file beneath the host page cache; the guest's writes reach the file). A
file whose filesystem refuses O_DIRECT is refused rather than attached cached. The
command finds the disks' device nodes, in --drive order, in $READPATH_DRIVES.

The command's output reaches the host through an emulated serial port (about 50 KB/s
under TCG): write bulky results under $READPATH_OUT instead.
Timings inside a TCG guest are not comparable with the host's; hook counts are exact.
A failed guest's whole console log is kept under ~/.cache/readpath/logs/; the KVM
verdict of --accel auto under ~/.cache/readpath/accel/ (delete it to probe again).

Exit status: the command's own; 1 if the guest kernel panics, oopses, hits a BUG or a
WARNING, if myfs fails to load/mount/unmount/unload, or on --timeout; 2 for bad usage.

Kernels newer than Debian 12's (7.2, 7.3, ...) come from Debian's trixie, trixie-backports
and sid without touching the host's apt sources or libc: their image and modules are
unpacked into ~/.cache/readpath/debian/kernels/ (about 0.13 GB each), and myfs is built
with the kernel's own compiler in a minimal Debian of the kernel's suite made once by
debootstrap (~/.cache/readpath/debian/buildroot/, about 0.5 GB). Root only. Debian 12's
6.12 comes the same way from bookworm-security where the host's apt sources lack that
suite (a root made by debootstrap has only `bookworm main`).

Examples:
  readpath vm --kernel 6.12 -- fio --version
  readpath vm --kernel 7.3 -- uname -r
  readpath vm --kernel 6.1 --myfs /mnt/myfs -o synthetic -- sh -c 'ls -l /mnt/myfs'
  readpath vm --kernel 6.1 --topology sockets=2,cores=2,nodes=2 -- lscpu
  readpath vm --kernel 6.12 --append 'transparent_hugepage=always' -- cat /proc/cmdline
  readpath vm --kernel 6.12 --accel tcg --icount --myfs /mnt/myfs -o synthetic -- \
      build/bench/readpath_bench --dir /mnt/myfs --profile tiny --methods read
  readpath vm --kernel 6.12 --drive disk.img -- sh -c 'cat /sys/block/${READPATH_DRIVES#/dev/}/size'
  readpath vm --kernel /path/bzImage --kdir /path/build --out res -- sh -c 'dmesg > $READPATH_OUT/log'

Python: readpath_lib.vm.run_in_vm(kernel, argv, ...) -> VmResult; see its docstring.
"""

import argparse
import sys

from ..errors import UsageError
from ..vm import resolve_kernel, run_in_vm


def add_arguments(parser):
    parser.add_argument("--kernel", required=True, metavar="K",
                        help="6.1 or 6.12 (newest Debian bookworm kernel of the series), a newer "
                             "series such as 7.3 (newest Debian kernel of it in trixie, "
                             "trixie-backports or sid, fetched into the cache), a release such "
                             "as 6.12.117+deb12-amd64 or 7.3.4+deb13-amd64, or a bzImage path "
                             "(with --kdir)")
    parser.add_argument("--kdir", metavar="HEADERS",
                        help="kernel build tree for --kernel PATH (to build myfs against)")
    parser.add_argument("--cpus", type=int, metavar="N", help="guest CPUs (default 2)")
    parser.add_argument("--mem", default="2G", metavar="M", help="guest memory (default 2G)")
    parser.add_argument("--topology", metavar="SPEC",
                        help="CPU/NUMA layout, e.g. sockets=2,cores=2,threads=1,nodes=2 "
                             "(CPUs and memory split evenly over nodes)")
    parser.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"],
                        help="auto: KVM when a probe boot works on this machine (remembered), "
                             "else TCG (default auto)")
    parser.add_argument("--myfs", metavar="MOUNTPOINT",
                        help="build myfs (kmod/) for the kernel, load and mount it here first")
    parser.add_argument("-o", dest="myfs_opts", metavar="OPTS", help="myfs mount options")
    parser.add_argument("--out", metavar="HOSTDIR",
                        help="host directory receiving what the guest writes under $READPATH_OUT")
    parser.add_argument("--drive", action="append", default=[], metavar="FILE",
                        help="attach a host file as a virtio-blk disk, host page cache bypassed "
                             "(cache=none; its filesystem must accept O_DIRECT); repeatable; the "
                             "command finds the device nodes in $READPATH_DRIVES")
    parser.add_argument("--timeout", type=float, default=600, metavar="S",
                        help="stop the guest and fail after S seconds, boot included (default 600)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the command (repeatable)")
    parser.add_argument("--append", action="append", default=[], metavar="ARGS",
                        help="extra kernel command-line arguments, after readpath's own, so "
                             "they win where a parameter takes one value (repeatable)")
    parser.add_argument("--icount", action="store_true",
                        help="under TCG, count the instructions the guest executes: loads the "
                             "readpath_icount QEMU plugin (build tree) and sets $READPATH_ICOUNT, "
                             "so readpath_bench's one-thread cells report instructions per request")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]",
                        help="the command to run in the guest")


def run(args):
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise UsageError("no command given; e.g. readpath vm --kernel 6.1 -- uname -r")
    if args.myfs_opts and not args.myfs:
        raise UsageError("-o gives myfs mount options; it needs --myfs MOUNTPOINT")
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"bad --env {item!r}; use NAME=VALUE")
        env[name] = value
    kernel = resolve_kernel(args.kernel, kdir=args.kdir)
    result = run_in_vm(kernel, command, cpus=args.cpus, mem=args.mem, accel=args.accel,
                       myfs=args.myfs, myfs_opts=args.myfs_opts, out=args.out,
                       timeout=args.timeout, topology=args.topology, env=env,
                       append=" ".join(args.append) or None, drives=args.drive, echo=True, icount=args.icount)
    if args.icount and result.accel != "tcg":
        print(f"readpath vm: --icount counts under TCG only; under {result.accel} nothing was counted",
              file=sys.stderr)
    print(f"readpath vm: {result.kernel_release} under {result.accel}: boot {result.boot_seconds:.1f} s, "
          f"command {result.command_seconds:.1f} s, exit status {result.returncode}",
          file=sys.stderr)
    return result.returncode
