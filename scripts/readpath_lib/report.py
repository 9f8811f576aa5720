"""Write report.md from result JSON (never re-runs anything): the findings first — the
fastest path per I/O size, where io_uring and mmap overtake read(2), significant
differences between runs — then throughput and hook-count tables, then the charts
(drawn alongside, as `readpath plot` would).

Examples:
  readpath report results/2026-11-21-6.12.117+deb12-amd64-box      # writes report.md there
  readpath report old-run new-run --out /tmp/cmp                     # two kernels side by side
"""

from pathlib import Path

from . import analysis, callpaths, compare, plot, results, stats
from .errors import UsageError
from .tables import markdown_table

HELP = "write report.md (findings, tables, charts) from result files or run folders"
ENV_KEYS = [("kernel", "kernel"), ("fs", "filesystem"), ("fs_options", "mount options"),
            ("accel", "accelerator"), ("cpu_model", "CPU"), ("num_cpus", "CPUs"),
            ("thp", "THP"), ("read_ahead_kb", "read_ahead_kb"),
            ("fault_around_bytes", "fault_around_bytes"), ("governor", "governor"),
            ("profile", "profile"), ("readpath_commit", "readpath commit")]
GIB = 2**30


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RESULT",
                        help="result JSON files or run folders; with several, the first is "
                             "the baseline")
    parser.add_argument("--out", metavar="DIR",
                        help="where report.md and charts/ go (default: the first RESULT when "
                             "it is a run folder)")
    parser.add_argument("--title", help="the report's heading")
    parser.add_argument("--no-charts", action="store_true",
                        help="tables only: do not draw or link charts")


def _gib(value):
    return "-" if value is None else f"{value / GIB:.2f}"


def _where(run, target):
    """`myfs on 6.1.0-56-amd64 (emulated timings, TCG)`: each target has its own kernel."""
    kernel = run.context("kernel", None, target=target)
    return (f"{target}" + (f" on {kernel}" if kernel else "")
            + (" (emulated timings, TCG)" if run.emulated(target) else ""))


def _facet_name(facet):
    file, warm = facet
    return f"file {results.format_size(file)}, {'warm' if warm else 'cold'}"


def findings(runs):
    """Sentences, most useful first."""
    lines = []
    for run in runs:
        for target in run.targets():
            kernel = run.context("kernel", None, target=target)
            prefix = f"{run.label}, " if len(runs) > 1 and run.label != kernel else ""
            if run.emulated(target):
                continue  # TCG timings rank nothing; the tables still show them, marked
            curves = analysis.io_curves(run, target)
            for facet in analysis.ordered_facets(curves):
                series = curves[facet]
                best = analysis.fastest(series)
                if best:
                    parts = []
                    for io, (name, value, runner, rvalue) in best.items():
                        lead = f" ({value / rvalue:.2f}× {runner})" if rvalue else ""
                        parts.append(f"{results.format_size(io)}: **{name}** "
                                     f"{_gib(value)} GiB/s{lead}")
                    lines.append(f"Fastest path per I/O size ({prefix}{_where(run, target)}, "
                                 f"{_facet_name(facet)}): " + "; ".join(parts) + ".")
                for name, io in analysis.crossovers(series):
                    if io is None:
                        lines.append(f"{name} is faster than read(2) at every I/O size "
                                     f"({prefix}{_where(run, target)}, {_facet_name(facet)}).")
                    else:
                        lines.append(f"{name} overtakes read(2) at {results.format_size(io)} "
                                     f"requests ({prefix}{_where(run, target)}, "
                                     f"{_facet_name(facet)}).")
            costs = analysis.fault_costs(run, target)
            for name, pts in sorted(costs.items()):
                if pts:
                    lo, hi = min(p[1] for p in pts), max(p[1] for p in pts)
                    cost = f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}–{hi:.0f}"
                    first, last = (results.format_size(pts[i][0]) for i in (0, -1))
                    sizes = f"file size {first}" if first == last else f"file sizes {first}–{last}"
                    lines.append(f"{name}: {cost} ns per 4 KiB page at {sizes} "
                                 f"({prefix}{_where(run, target)}).")
    return lines


def comparison_findings(runs, tables):
    lines = []
    for table in tables:
        if table.metric.key not in ("bytes_per_second",) and table.metric.timing:
            continue
        for j, other in enumerate(runs[1:]):
            marked = [(row, row.deltas[j]) for row in table.rows
                      if row.deltas[j] is not None and row.deltas[j].significant]
            geo = table.geomeans[j]
            what = f"{table.metric.title} on {table.target}"
            emulated = " (emulated timings: TCG)" if table.emulated[j + 1] or table.emulated[0] \
                else ""
            if table.metric.timing:
                head = (f"{other.label} vs {runs[0].label}, {what}{emulated}: geometric mean "
                        f"×{geo:.3f}" if geo else f"{other.label} vs {runs[0].label}, {what}")
                if marked:
                    worst = sorted(marked, key=lambda rd: abs(rd[1].delta_pct), reverse=True)[:6]
                    head += "; significant: " + ", ".join(
                        f"{results.short_name(row.bench.name)} {compare.format_delta(d.delta_pct)}"
                        for row, d in worst)
                    if len(marked) > len(worst):
                        head += f" and {len(marked) - len(worst)} more"
                else:
                    head += "; no significant difference after Holm correction"
                lines.append(head + ".")
            elif marked:
                lines.append(f"{other.label} vs {runs[0].label}, {what}: "
                             + ", ".join(f"{results.short_name(row.bench.name)} {results.format_value(row.base, '')}"
                                         f" → {results.format_value(d.value, '')}"
                                         for row, d in marked[:6])
                             + (f" and {len(marked) - 6} more" if len(marked) > 6 else "")
                             + " (exact counts).")
    return lines


def environment_table(runs):
    """One column per run and filesystem: a run folder's native and guest parts differ."""
    columns = [(f"{r.label} ({t})" if len(r.targets()) > 1 else r.label, r.contexts.get(t, {}))
               for r in runs for t in r.targets()]
    rows = []
    for key, title in ENV_KEYS:
        values = [str(ctx.get(key, "")) for _, ctx in columns]
        if any(values):
            rows.append([title, *[v or "-" for v in values]])
    if not rows:
        return ""
    return markdown_table(["", *[c for c, _ in columns]], rows, "l" * (len(columns) + 1))


def throughput_tables(run):
    out = []
    for target in run.targets():
        curves = analysis.io_curves(run, target)
        for facet in analysis.ordered_facets(curves):
            series = curves[facet]
            ios = sorted({io for pts in series.values() for io, _, _ in pts})
            base = analysis.baseline_series(series)
            base_values = {io: v for io, v, _ in series[base]} if base else {}
            rows = []
            for name in sorted(series):
                values = {io: (v, samples) for io, v, samples in series[name]}
                cells = [name]
                for io in ios:
                    if io not in values:
                        cells.append("-")
                        continue
                    v, samples = values[io]
                    cell = _gib(v)
                    if base_values.get(io) and name != base:
                        cell += f" ({v / base_values[io]:.2f}×)"
                    spread = stats.cv(samples)
                    if spread is not None and spread > 0.03:
                        cell += f" ±{spread * 100:.0f}%"
                    cells.append(cell)
                rows.append(cells)
            heading = (f"### Throughput (GiB/s, median), {_where(run, target)}, "
                       f"{_facet_name(facet)}")
            note = (f"In parentheses: ratio to {base} at the same I/O size. ±: coefficient of "
                    f"variation of the repetitions where above 3%.") if base else ""
            out += [heading, "", markdown_table(["path", *[results.format_size(i) for i in ios]],
                                                rows), ""]
            if note:
                out += [note, ""]
    return out


def hook_tables(runs):
    """Per-iteration myfs hook counts: one column per run and hook, hooks that fired only."""
    out = []
    hooks = [h for h in results.MYFS_HOOKS
             if any(any(b.values(f"myfs_{h}")) for r in runs for b in r.benchmarks.values())]
    if not hooks:
        return out
    for target in sorted({t for r in runs for t in r.targets()}):
        names = sorted({b.name for r in runs for b in r.benchmarks.values()
                        if b.target == target and any(b.values(f"myfs_{h}") for h in hooks)},
                       key=lambda n: compare.sort_key((target, n)))
        if not names:
            continue
        headers = ["benchmark", *hooks]
        rows = []
        for name in names:
            cells = [results.short_name(name)]
            for h in hooks:
                values = []
                for r in runs:
                    b = r.benchmarks.get((target, name))
                    values.append(None if b is None else b.median(f"myfs_{h}"))
                differs = len({v for v in values if v is not None}) > 1
                text = " / ".join(results.format_value(v, "") for v in values)
                cells.append(f"**{text}**" if differs else text)
            rows.append(cells)
        out += [f"### myfs hook calls per iteration on {target} (exact under any accelerator)",
                "", markdown_table(headers, rows), ""]
        if len(runs) > 1:
            out += [f"Each cell: {' / '.join(r.label for r in runs)}; bold where they differ.",
                    ""]
    return out


def path_findings(recorded):
    """One sentence per hook whose call path differs between kernels."""
    if len(recorded) < 2:
        return []
    lines = []
    for hook in callpaths.differing_hooks(recorded):
        variants = []
        for release, paths in recorded.items():
            frames = paths.get(hook)
            others = [set(p.get(hook) or ()) for r, p in recorded.items() if r != release]
            only = [f for f in frames or () if not all(f in o for o in others)]
            if frames is None:
                variants.append(f"{release} never reached it")
            else:
                variants.append(f"{release} via {', '.join(only) or 'the same functions in another order'}")
        lines.append(f"The call path into myfs `{hook}` differs: " + "; ".join(variants) + ".")
    return lines


def call_paths(runs):
    """{kernel release: {hook: [functions]}} from the .paths file beside each myfs JSON."""
    recorded = {}
    for run in runs:
        for file in run.files:
            paths_file = file.with_suffix(".paths")
            if paths_file.is_file():
                release = file.stem[len("myfs-"):] if file.stem.startswith("myfs-") else file.stem
                recorded[release] = callpaths.load(paths_file)
    return recorded


def skipped(runs):
    """One line per run, filesystem and reason: how many cells, and an example."""
    lines = []
    for run in runs:
        groups = {}
        for bench in sorted(run.benchmarks.values(), key=lambda b: b.name):
            if bench.skipped:
                groups.setdefault((bench.target, bench.skipped), []).append(bench.name)
        for (target, reason), names in sorted(groups.items()):
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            lines.append(f"- {run.label} on {target}: {len(names)} cell(s), "
                         f"e.g. `{results.short_name(names[0])}`"
                         f"{more}: {reason}")
    return lines


def build(runs, out, title=None, charts=True):
    """Write out/report.md (and out/charts/ unless charts is False); returns the path."""
    label = " vs ".join(r.label for r in runs)
    text = [f"# {title or 'readpath report: ' + label}", ""]
    emulated = [f"{r.label} on {t}" for r in runs for t in r.targets() if r.emulated(t)]
    if emulated:
        text += [f"> Timings from {', '.join(emulated)} were taken under TCG emulation: they "
                 "show shapes, not real costs. Hook counts are exact.", ""]
    tables = compare.compare(runs) if len(runs) > 1 else []
    text += ["## Findings", ""]
    recorded = call_paths(runs)
    found = (comparison_findings(runs, tables) if tables else []) + path_findings(recorded) \
        + findings(runs)
    if emulated:
        found.append("Fastest paths and crossovers are not ranked from emulated (TCG) timings.")
    text += [f"- {line}" for line in found] or ["- No throughput results to summarise."]
    text += ["", "## Environment", "", environment_table(runs), ""]
    for run in runs:
        text += throughput_tables(run)
    text += hook_tables(runs)
    if tables:
        text += ["## Comparison with " + runs[0].label, ""]
        for table in tables:
            differs = any(d is not None and d.significant for row in table.rows for d in row.deltas)
            if table.metric.key == "bytes_per_second" or (not table.metric.timing and differs):
                text += [compare.render(table, runs), ""]
        text += [compare.legend(tables, 0.05), ""]
    if charts:
        drawn = plot.draw(runs, out / "charts")
        if drawn:
            text += ["## Charts", ""]
            for paths in drawn:
                png = paths[0]
                text += [f"![{png.stem}](charts/{png.name}) ([SVG](charts/{png.with_suffix('.svg').name}))", ""]
    if recorded:
        text += ["## Call paths per hook (myfs, trace=once)", "",
                 "The first call stack that reached each myfs hook, innermost frame first, "
                 "by function name (offsets differ between builds)."
                 + (" Bold: frames that differ between kernels." if len(recorded) > 1 else ""),
                 "", *callpaths.side_by_side(recorded)]
    gone = skipped(runs)
    if gone:
        text += ["## Skipped cells", "", *gone, ""]
    text += ["## Sources", "", *[f"- `{_shown(f, out)}`" for r in runs for f in r.files], ""]
    path = out / "report.md"
    path.write_text("\n".join(text))
    return path


def _shown(path, out):
    """A source path relative to the report when it lives beside it, else as given."""
    try:
        return path.resolve().relative_to(out.resolve())
    except ValueError:
        return path


def run(args):
    runs = results.load_all(args.runs)
    out = Path(args.out) if args.out else None
    if out is None:
        if not Path(args.runs[0]).is_dir():
            raise UsageError(f"{args.runs[0]} is a file, so say where report.md goes: --out DIR")
        out = Path(args.runs[0])
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "charts").mkdir(exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create {out}: {err.strerror}")
    path = build(runs, out, args.title, charts=not args.no_charts)
    print(path)
    return 0
