"""Boot one kernel in QEMU and run the suite on myfs under two or more sets of mount
options — the seed's `.read` against `.read_iter` (`read=read`), fault-around on or off
(`fault_around=off`), a modelled device latency (`read_latency_ns=N`), counting on or off
(`counters=off`) — and report them the way compare-kernels does: timings set against the
first set round by round with Holm, hook counts side by side, call paths with the
differing frames marked. The sets run in the same rounds, so each cell is compared round
by round (the paired t-test on the rounds' log medians): the machine's drift between
rounds falls on both sides of every pair and cancels.

Each OPTIONS is a comma-separated list of myfs mount options (kmod/README.md) added to
`synthetic,trace=once`, or `default` for myfs's defaults; with one OPTIONS the baseline is
`default`. The same options twice is an A/A comparison: it should find nothing.

The sets run interleaved in one guest, counterbalanced — round 1 A B, round 2 B A, … —
each on a fresh mount, after one discarded warm-up run, so drift of the machine falls on
every set alike. That is what makes a ratio of the same cell under one knob meaningful
even where the timings themselves are emulated (TCG).

Examples:
  readpath compare-options fault_around=off
  readpath compare-options read=iter read=read --kernel 6.12 --methods read,pread
  readpath compare-options default default --quick          # A/A: expect no change
  readpath compare-options read_latency_ns=0 --backing null_blk:completion_nsec=100000
"""

import sys
import time

from .. import backing as backings
from .. import build, cli, engine, guest_suite, packages, paths, report, results
from ..errors import UsageError


def add_arguments(parser):
    parser.add_argument("options", nargs="+", metavar="OPTIONS",
                        help="myfs mount options per set, e.g. fault_around=off or "
                             "read=read,read_latency_ns=100000; `default` for myfs's defaults; "
                             "the first set is the baseline (with one set, `default` is)")
    parser.add_argument("--kernel", default=guest_suite.DEFAULT_KERNEL, metavar="K",
                        help=f"the guest kernel (default {guest_suite.DEFAULT_KERNEL}; also 6.12 or a "
                             "release such as 6.12.117+deb12-amd64)")
    guest_suite.add_suite_arguments(parser, "quick", 3600)
    parser.add_argument("--methods", metavar="A,B",
                        help="only these methods (readpath_bench --methods)")
    parser.add_argument("--rounds", type=cli.positive_int, metavar="N",
                        help="interleaved rounds over the sets (default: the profile's)")
    parser.add_argument("--repetitions", type=cli.positive_int, metavar="N",
                        help="repetitions per set and round (default: the profile's); each "
                             "round counts once, whatever its repetitions")
    parser.add_argument("--min-effect", type=cli.percentage, default=0.0, metavar="PCT",
                        help="call a change significant only when it is beyond PCT percent "
                             "with confidence (default 0: any change)")
    parser.add_argument("--out", metavar="DIR",
                        help="report folder (default: results/<date>-options-<K>-<host>)")


def configs_from(options, backing=backings.MEMORY):
    """[guest_suite.Config] with unique labels, all on `backing`; one set is compared with
    `default`."""
    if len(options) == 1:
        options = ["default", *options]
    configs, seen = [], {}
    for text in options:
        text = text.strip()
        if not text or any(c.isspace() for c in text):
            raise UsageError(f"bad OPTIONS {text!r}: give comma-separated myfs mount options "
                             "without spaces, e.g. fault_around=off, or `default`")
        extra = "" if text == "default" else text
        if "synthetic" in extra.split(","):
            raise UsageError("`synthetic` is always on in memory and refused on a block "
                             "backing (readpath's files are generated or mkfs.myfs's); "
                             "leave it out of OPTIONS")
        seen[text] = seen.get(text, 0) + 1
        label = text if seen[text] == 1 else f"{text}#{seen[text]}"
        configs.append(guest_suite.Config(label, extra, backing))
    return configs


def run(args):
    from .. import vm
    if args.timeout <= 0:
        raise UsageError("--timeout takes a positive number of seconds")
    configs = configs_from(args.options, backings.from_args(args))
    packages.ensure(packages.VM + packages.PYTHON, "compare-options")
    kernel = vm.resolve_kernel(args.kernel)   # an unknown kernel fails here
    bench = build.bench(no_build=args.no_build)
    rounds, repetitions = engine.design(engine.profile(bench, args.profile), args.rounds,
                                        args.repetitions)
    if rounds < 3:
        raise UsageError(f"{rounds} round(s): a test needs at least 3 (the round is the unit: "
                         "repetitions inside one move together); give --rounds 3 or more")
    bench_args = ["--methods", args.methods] if args.methods else []
    folder = paths.new_results_folder(f"options-{kernel.release}", args.out)
    paths.make_folder(folder / "raw")
    stems = [f"myfs-{guest_suite.slug(c.label)}" for c in configs]
    print(f"readpath compare-options: {' vs '.join(c.label for c in configs)} on "
          f"{kernel.release}, {args.profile} profile, {rounds} interleaved rounds of "
          f"{repetitions} repetitions; results in {folder}", file=sys.stderr, flush=True)
    started = time.monotonic()
    release, accel = guest_suite.run_suite(
        bench, kernel, args.profile, folder, lambda i, _release: stems[i], configs=configs,
        rounds=rounds, repetitions=repetitions, bench_args=bench_args,
        timeout=args.timeout)
    print(f"readpath compare-options: {release} under {accel}: "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    runs = [results.load(results.round_files(folder / "raw", stem)
                         if rounds > 1 else folder / "raw" / f"{stem}.json", label=c.label)
            for stem, c in zip(stems, configs)]
    path = report.build(runs, folder, title=f"readpath compare-options on {release}: "
                                            f"{' vs '.join(c.label for c in configs)}",
                        min_effect=args.min_effect)
    print(f"readpath compare-options: wrote {path}", file=sys.stderr)
    print(path)
    return 0
