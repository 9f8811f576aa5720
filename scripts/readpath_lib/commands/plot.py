"""Draw charts (PNG and SVG) from result JSON; never re-runs anything.

Per run and filesystem: throughput vs I/O size (one row per file size and cache state, one
panel per family: read(2), io_uring, mmap), the same as a ratio to pread with the I/O size
where io_uring overtakes read(2) beyond noise, the cost per page of the paths that only
fault pages in, and scaling with threads. Every median carries its 95% confidence interval
and is drawn hollow when its repetitions vary by more than 3%. A method keeps one colour in
every chart: its family's colour ramp, shaded by its place in the engine's method table;
queue depths of one method differ in line style and marker.

Timings from a TCG guest compare nothing across methods, so an emulated target gets only
its myfs hook counts (exact under any accelerator) and, given two or more runs, the chart of
each run relative to the first (a ratio of the same cell), marked "emulated (TCG)".

Examples:
  readpath plot results/2026-11-21-6.12.117+deb12-amd64-box
  readpath plot base.json new.json --out /tmp/charts
"""

from .. import cli, results
from ..errors import UsageError
from ..plot import draw


def add_arguments(parser):
    cli.add_runs_argument(parser, "with several, the first is the baseline of the "
                                  "comparison chart")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write the charts (default: RESULT/charts when the "
                             "first RESULT is a run folder)")


def run(args):
    runs = results.load_all(args.runs)
    out = cli.output_folder(args.runs, args.out, "the charts")
    if not args.out:
        out = out / "charts"
    written = draw(runs, out)
    if not written:
        raise UsageError("nothing to chart: the results have no throughput values "
                         "(were all cells skipped?)")
    for paths in written:
        print(" ".join(str(p) for p in paths))
    return 0
