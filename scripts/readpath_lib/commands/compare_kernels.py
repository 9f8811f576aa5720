"""Boot each kernel in QEMU (`readpath vm`), build and mount myfs there, run the suite on
it, and write one report: throughput ratios per path and size against the first kernel
(marked emulated where the guest ran under TCG), myfs hook counts per operation side by
side (exact under any accelerator), and the call path that reached each hook on each
kernel, side by side with the differences in bold.

Each kernel's results are kept as they finish (raw/myfs-<release>.json, .paths, .log);
rerunning with the same --out skips kernels already done.

Examples:
  readpath compare-kernels 6.1 6.12 --quick
  readpath compare-kernels 6.1 6.12 --quick --backing null_blk --scheduler mq-deadline
  readpath compare-kernels 6.1.0-56-amd64 6.12.117+deb12-amd64 --out /tmp/k
"""

import sys
import time

from .. import backing as backings
from .. import build, guest_suite, packages, paths, report, results
from ..errors import UsageError

# Hook counts are exact after one pass; three repetitions give the timings (meaningful
# only under KVM) a spread.
REPETITIONS = 3


def add_arguments(parser):
    parser.add_argument("kernels", nargs="+", metavar="K",
                        help="kernels to compare (6.1, 6.12, a newer series such as 7.3, a Debian release such as "
                             "6.12.117+deb12-amd64); the first is the baseline")
    guest_suite.add_suite_arguments(parser, "quick", 1800)
    parser.add_argument("--out", metavar="DIR",
                        help="report folder (default: results/<date>-kernels-<K1>-vs-<K2>-<host>)")


def run(args):
    from .. import vm
    if len(args.kernels) < 2:
        raise UsageError("give at least two kernels, e.g. readpath compare-kernels 6.1 6.12")
    if len(set(args.kernels)) != len(args.kernels):
        raise UsageError("a kernel is named twice; give each once")
    if args.timeout <= 0:
        raise UsageError("--timeout takes a positive number of seconds")
    chosen = backings.from_args(args)
    packages.ensure(packages.VM + packages.PYTHON, "compare-kernels")
    kernels = [vm.resolve_kernel(spec) for spec in args.kernels]   # unknown ones fail here
    bench = build.bench(no_build=args.no_build)
    releases = [k.release for k in kernels]
    if len(set(releases)) != len(releases):
        raise UsageError(f"two of {', '.join(args.kernels)} are the same kernel "
                         f"({', '.join(releases)})")
    folder = paths.new_results_folder(f"kernels-{'-vs-'.join(args.kernels)}", args.out)
    paths.make_folder(folder / "raw")
    print(f"readpath compare-kernels: {' vs '.join(releases)}, {args.profile} profile on myfs "
          f"({chosen.spec}); "
          f"results in {folder}", file=sys.stderr, flush=True)
    started = time.monotonic()
    for n, kernel in enumerate(kernels, 1):
        done = folder / "raw" / f"myfs-{kernel.release}.json"
        if done.is_file():
            print(f"[{n}/{len(kernels)}] {kernel.release}: already done, kept",
                  file=sys.stderr, flush=True)
            continue
        print(f"[{n}/{len(kernels)}] {kernel.release}: booting, building myfs, running "
              f"(elapsed {time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        release, accel = guest_suite.run_suite(
            bench, kernel, args.profile, folder, lambda i, release: f"myfs-{release}",
            configs=[guest_suite.Config("defaults", backing=chosen)],
            repetitions=REPETITIONS, timeout=args.timeout)
        print(f"[{n}/{len(kernels)}] {release} under {accel}: {time.monotonic() - t0:.0f} s",
              file=sys.stderr, flush=True)
    runs = [results.load(folder / "raw" / f"myfs-{r}.json", label=r) for r in releases]
    path = report.build(runs, folder, title=f"readpath compare-kernels: {' vs '.join(releases)}")
    print(f"readpath compare-kernels: wrote {path} in {time.monotonic() - started:.0f} s",
          file=sys.stderr)
    print(path)
    return 0
