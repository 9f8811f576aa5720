"""Write report.md from result JSON (never re-runs anything): the findings first — the
fastest path per I/O size among like paths, where io_uring overtakes read(2), significant
differences between runs with the hook counts and call paths that explain them — then what
each path times (O_DIRECT paths marked as bypassing the page cache, and named so wherever
they are ranked beside buffered reads), throughput tables with their uncertainty, hook
counts, for results on a block device the device (name, I/O scheduler, model,
read_ahead_kb; a change of it between runs is a finding) and its requests, merges and
sizes per cell beside myfs's bios, the comparison tables, the charts (drawn alongside, as
`readpath plot` would) and the call paths: per hook, which entry points reached it (read(2),
a page fault, an io_uring worker, ...) with their calls on each run, and the stacks side by
side, bio_submit and bio_complete down to the driver.

Examples:
  readpath report results/2026-11-21-6.12.117+deb12-amd64-box      # writes report.md there
  readpath report old-run new-run --out /tmp/cmp                     # two kernels side by side
"""

from .. import cli, results
from ..report import build


def add_arguments(parser):
    cli.add_runs_argument(parser, "with several, the first is the baseline")
    parser.add_argument("--out", metavar="DIR",
                        help="where report.md and charts/ go (default: the first RESULT when "
                             "it is a run folder)")
    parser.add_argument("--title", help="the report's heading")
    parser.add_argument("--no-charts", action="store_true",
                        help="tables only: do not draw or link charts")


def run(args):
    runs = results.load_all(args.runs)
    out = cli.output_folder(args.runs, args.out, "report.md and its charts")
    print(build(runs, out, args.title, charts=not args.no_charts))
    return 0
