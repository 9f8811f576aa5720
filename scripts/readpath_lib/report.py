"""report.md from result runs; what it holds is `readpath report`'s description
(commands/report.py). build() writes it."""

from . import analysis, attribution, callpaths, compare, findings, plot, results
from .tables import markdown_table

ENV_KEYS = [("kernel", "kernel"), ("fs", "filesystem"), ("fs_options", "mount options"),
            ("accel", "accelerator"), ("cpu_model", "CPU"), ("num_cpus", "CPUs"),
            ("thp", "THP"), ("read_ahead_kb", "read_ahead_kb"),
            ("fault_around_bytes", "fault_around_bytes"), ("governor", "governor"),
            ("profile", "profile"), ("readpath_commit", "readpath commit")]
GIB = 2**30


def _gib(value):
    return "-" if value is None else f"{value / GIB:.2f}"


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


def _cell(point, base_point):
    """`9.81 ±0.8% (1.02×)`, with † when the repetitions vary by more than 3%."""
    text = _gib(point.value) + findings._spread(point)
    if base_point is not None and base_point.value:
        text += f" ({point.value / base_point.value:.2f}×)"
    return text + (" †" if point.noisy else "")


def throughput_tables(run):
    """Per native target and question, every path's GiB/s per request size. Emulated (TCG)
    timings get none: absolute emulated throughput says nothing; their ratios between runs
    and their counts are in the comparison and hook tables."""
    out = []
    for target in run.targets():
        if run.emulated(target):
            continue
        curves = analysis.io_curves(run, target)
        for facet in analysis.ordered_facets(curves):
            series = curves[facet]
            ios = sorted({p.x for s in series.values() for p in s.points})
            base = analysis.baseline_series(series)
            rows = []
            for name in sorted(series):
                cells = [name]
                for io in ios:
                    p = series[name].at(io)
                    base_point = series[base].at(io) if base and name != base else None
                    cells.append("-" if p is None else _cell(p, base_point))
                rows.append(cells)
            heading = (f"### Throughput (GiB/s), {findings.where(run, target)}, "
                       f"{findings.facet_name(facet)}")
            rounds = {p.estimate.rounds for s in series.values() for p in s.points}
            note = (f"Each value is the geometric mean of the rounds' medians ({_rounds(rounds)}); "
                    "±: half-width of its 95% confidence interval over the rounds (none with "
                    f"fewer than 3); †: its rounds vary by more than {analysis.NOISY_CV:.0%}, "
                    "a noisy cell.")
            if base:
                note = f"In parentheses: ratio to {base} at the same I/O size. " + note
            if any(s.fault_only for s in series.values()):
                note += (" Fault-only paths (one load per page, nothing copied) are listed "
                         "for completeness; they are not ranked with the reads.")
            out += [heading, "", markdown_table(["path", *[results.format_size(i) for i in ios]],
                                                rows), "", note, ""]
    return out


def _rounds(counts):
    """`8 rounds`, `1–2 rounds`."""
    lo, hi = min(counts, default=0), max(counts, default=0)
    return f"{lo} round{'s' if hi != 1 else ''}" if lo == hi else f"{lo}–{hi} rounds"


LATENCY_COLUMNS = [("lat_p50_ns", "p50"), ("lat_p90_ns", "p90"), ("lat_p99_ns", "p99"),
                   ("lat_p999_ns", "p99.9"), ("lat_max_ns", "max")]


def _latency_label(bench):
    """`uring io:4K qd:8`: a cell of a latency table, whose file and cache state the table
    names."""
    return analysis.series_label(bench, drop=("file", "warm")).replace(" threads:1", "")


def latency_tables(run):
    """Per target, file size and cache state: each cell's latency percentiles per request,
    medians over the repetitions; [] when no cell ran a latency pass."""
    out = []
    for target in run.targets():
        cells = [b for b in analysis.usable(run, target, "lat_p50_ns")]
        if not cells:
            continue
        facets = {}
        for bench in sorted(cells, key=lambda b: results.sort_key(b.key)):
            facets.setdefault((bench.params.get("file"), bench.params.get("warm", 1)),
                              []).append(bench)
        timer = run.context("latency_timer_ns", None, target=target)
        overhead = f", timer overhead {timer} ns, not subtracted" if timer else ""
        reps = sorted({len(b.values("lat_p50_ns")) for b in cells})
        out += [f"### Latency per request, {findings.where(run, target)}", "",
                f"One request as the method table says; medians over {reps[0]}"
                + (f"–{reps[-1]}" if len(reps) > 1 else "")
                + f" repetitions of one latency pass each{overhead}.", ""]
        for facet in analysis.ordered_facets(facets):
            rows = [[_latency_label(b), *[results.format_value(b.median(key), "ns")
                                          for key, _ in LATENCY_COLUMNS]]
                    for b in facets[facet]]
            out += [f"{findings.facet_name(facet)}:", "",
                    markdown_table(["path", *[title for _, title in LATENCY_COLUMNS]], rows,
                                   "l" + "r" * len(LATENCY_COLUMNS)), ""]
    return out


def method_table(runs):
    """What each method times, in the engine's own words (its method table)."""
    present = sorted({b.method for r in runs for b in r.benchmarks.values()})
    traits_of = {m: next((r.traits(m) for r in runs if r.traits(m)), {}) for m in present}
    direct = any(t.get("direct") for t in traits_of.values())
    rows = []
    for method in present:
        traits = traits_of[method]
        if traits:
            cache = ["bypassed (O_DIRECT)" if traits.get("direct") else "through it"] \
                if direct else []
            rows.append([method, traits.get("family", "-"), traits.get("delivers", "-"),
                         traits.get("ranks_with", "-"), *cache, traits.get("timed", "-")])
    if not rows:
        return []
    note = ("Paths are ranked only with paths of the same kind (\"ranks with\"): a copy out "
            "of a mapping is not a read, and touching a page is not copying it.")
    if direct:
        note += (" O_DIRECT reads bypass the page cache: they have only cold cells and go to "
                 "the device on every request; where they are ranked with buffered reads, the "
                 "findings say so.")
    return ["## What each path times", "", note, "",
            markdown_table(["method", "family", "delivers", "ranks with",
                            *(["page cache"] if direct else []), "timed region"],
                           rows, "l" * (6 if direct else 5)), ""]


def hook_tables(runs):
    """Per-iteration myfs hook counts: one column per run and hook, hooks that fired only;
    then the pages of the file the page cache held after the counted pass (`cache_pages`)."""
    out = []
    hooks = [h for h in results.hook_order(runs)
             if any(any(b.values(f"myfs_{h}")) for r in runs for b in r.benchmarks.values())]
    if not hooks:
        return out
    keys = [f"myfs_{h}" for h in hooks]
    if any(b.values("cache_pages") for r in runs for b in r.benchmarks.values()):
        keys.append("cache_pages")
    for target in sorted({t for r in runs for t in r.targets()}):
        names = sorted({b.name for r in runs for b in r.benchmarks.values()
                        if b.target == target and any(b.values(f"myfs_{h}") for h in hooks)},
                       key=lambda n: results.sort_key((target, n)))
        if not names:
            continue
        headers = ["benchmark", *hooks, *(["cached pages after"] if "cache_pages" in keys else [])]
        rows = []
        for name in names:
            cells = [results.short_name(name)]
            for key in keys:
                values = []
                for r in runs:
                    b = r.benchmarks.get((target, name))
                    values.append(None if b is None or not b.values(key) else b.median(key))
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


def counted_tables(runs):
    """Instructions per request counted under TCG (readpath_icount), total, kernel and user:
    one table per target, each cell every run's median, bold where the runs differ by more
    than the counts' own A/A spread (results.COUNTED_SPREAD)."""
    out = []
    metrics = [m for m in results.COUNTED_METRICS
               if any(b.values(m.key) for r in runs for b in r.benchmarks.values())]
    if not metrics:
        return out
    for target in sorted({t for r in runs for t in r.targets()}):
        names = sorted({b.name for r in runs for b in r.benchmarks.values()
                        if b.target == target and b.values(metrics[0].key)},
                       key=lambda n: results.sort_key((target, n)))
        if not names:
            continue
        rows = []
        for name in names:
            cells = [results.short_name(name)]
            for metric in metrics:
                values = [None if (b := r.benchmarks.get((target, name))) is None
                          or not b.values(metric.key) else b.median(metric.key) for r in runs]
                present = [v for v in values if v is not None and v > 0]
                # Interrupts land in a pass as the host's clock has it: no cost of the path.
                differs = metric.key != "interrupt_instructions_per_request" and len(present) > 1 \
                    and max(present) / min(present) - 1 > results.COUNTED_SPREAD
                text = " / ".join("-" if v is None else f"{v:,.0f}" for v in values)
                cells.append(f"**{text}**" if differs else text)
            rows.append(cells)
        headers = ["benchmark", *[m.title.replace(" (counted)", "") for m in metrics]]
        out += [f"### Instructions per request on {target} (counted under TCG)", "",
                markdown_table(headers, rows), "",
                "The reader's vCPU during the timed passes, interrupts counted apart where the "
                "kernel's symbols allowed (docs/contracts.md, \"Counted cost\"); the same options "
                f"twice differ by up to {results.COUNTED_SPREAD * 100:g}% where no context switch "
                "took the reader off its vCPU (`ctxsw`)"
                + (f". Each cell: {' / '.join(r.label for r in runs)}; bold where they differ "
                   "by more." if len(runs) > 1 else "."), ""]
    return out


def _device_label(run, target, runs):
    return f"{run.label} ({target})" if len({t for r in runs for t in r.targets()}) > 1 \
        else run.label


def device_tables(runs):
    """The block device each result read from (its context) and, per cell that read from
    it, the device's requests, merges and sizes per pass beside myfs's hook counts; [] when
    no result was on a block device."""
    columns = [(_device_label(r, t, runs), r.device(t)) for r in runs for t in r.targets()
               if r.device(t)]
    if not columns:
        return []
    out = ["## Device", "",
           "The block device under the directory each result read (from its context), then "
           "per cell and pass what the device did (/sys/block/<disk>/stat around the counted "
           "pass) beside what myfs asked of it. Requests fewer than bios: the I/O scheduler "
           "or the plug merged them; more: the block layer split them at the device's "
           "largest request (max_sectors_kb).", "",
           markdown_table(["", *[label for label, _ in columns]],
                          [[title, *[dev[key] for _, dev in columns]]
                           for key, title in results.DEVICE_CONTEXT],
                          "l" * (len(columns) + 1)), ""]
    hooks = [h for h in results.hook_order(runs) if h in results.DEVICE_HOOKS]
    counters = [("dev_reads", "requests"), ("dev_read_merges", "merges"),
                ("dev_read_kib", "KiB"), ("dev_read_avg_kib", "KiB/request"),
                ("dev_read_ms", "ms")]
    for target in sorted({t for r in runs for t in r.targets() if r.device(t)}):
        names = sorted({b.name for r in runs for b in r.benchmarks.values()
                        if b.target == target and b.values("dev_reads")},
                       key=lambda n: results.sort_key((target, n)))
        shown = [h for h in hooks if any(any(b.values(f"myfs_{h}")) for r in runs
                                         for b in r.benchmarks.values() if b.target == target)]
        if not names:
            out += [f"The device under {target} accounts no I/O (its queue's iostats are off, "
                    "as brd's): no request counts per cell, only myfs's calls (hook table "
                    "above).", ""]
            continue
        rows, idle = [], 0
        for name in names:
            benches = [r.benchmarks.get((target, name)) for r in runs]
            if not any(b is not None and any(b.values("dev_reads")) for b in benches):
                idle += 1
                continue
            cells = [results.short_name(name)]
            for key in [k for k, _ in counters] + [f"myfs_{h}" for h in shown]:
                values = [None if b is None else b.median(key) for b in benches]
                text = " / ".join(results.format_value(v, "") for v in values)
                differs = len({v for v in values if v is not None}) > 1
                cells.append(f"**{text}**" if differs else text)
            rows.append(cells)
        if not rows:
            out += [f"No cell on {target} read from the device (every one found its pages "
                    "cached).", ""]
            continue
        out += [f"### Device requests per pass on {target}, beside myfs's calls", "",
                markdown_table(["benchmark", *[t for _, t in counters], *shown], rows), ""]
        notes = []
        if len(runs) > 1:
            notes.append(f"Each cell: {' / '.join(r.label for r in runs)}; bold where they "
                         "differ.")
        if idle:
            notes.append(f"{idle} cell(s) read nothing from the device (warm cache) and are "
                         "not listed.")
        if any(r.emulated(target) for r in runs):
            notes.append("ms is device time under TCG emulation: a shape, not a cost.")
        if notes:
            out += [" ".join(notes), ""]
    return out


def call_paths(runs):
    """{run label: {hook: [callpaths.Stack]}} from the .paths file beside a run's myfs
    JSON."""
    recorded = {}
    for run in runs:
        for file in run.files:
            paths_file = results.paths_file(file)
            if paths_file is not None:
                recorded[run.label] = callpaths.load(paths_file)
                break
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


def runs_summary(runs):
    """One line per run: its profile, rounds and where each part of it was timed."""
    lines = []
    for run in runs:
        parts = []
        for target in run.targets():
            kind = "emulated, TCG" if run.emulated(target) else "native"
            kernel = run.context("kernel", "?", target=target)
            rounds = len({r for b in run.benchmarks.values() if b.target == target
                          for rs in b.sample_rounds.values() for r in rs})
            parts.append(f"{target} on {kernel} ({kind}, {rounds} round{'s' * (rounds != 1)})")
        profile = run.context("profile", "")
        lines.append(f"- {run.label}: {profile + ' profile; ' if profile else ''}"
                     + ", ".join(parts) + ".")
    return lines


def build(runs, out, title=None, charts=True, min_effect=0.0):
    """Write out/report.md (and out/charts/ unless charts is False); returns the path.
    Differences between runs are significant when beyond min_effect percent. The answer
    first (the cheapest path per size, then short findings), the details after."""
    label = " vs ".join(r.label for r in runs)
    text = [f"# {title or 'readpath report: ' + label}", "", *runs_summary(runs), ""]
    emulated = [f"{r.label + ': ' if len(runs) > 1 else ''}{t} on "
                f"{r.context('kernel', '?', target=t)}"
                for r in runs for t in r.targets() if r.emulated(t)]
    if emulated:
        text += [f"> Emulated (TCG): {', '.join(emulated)}. Its timings rank nothing; what "
                 "holds there are hook counts and the ratio of the same cell between runs.", ""]
    tables = compare.compare(runs, min_effect=min_effect) if len(runs) > 1 else []
    recorded = call_paths(runs)
    text += findings.cheapest_table(runs)
    found = compare.device_changes(runs) + compare.drift_note(runs, tables) \
        + (findings.comparison_findings(runs, tables, recorded) if tables else []) \
        + (findings.latency_findings(runs, tables, recorded) if tables else []) \
        + findings.path_findings(recorded) + findings.run_findings(runs) \
        + [line for line in (compare.describe_self_check(compare.self_check(r), r.label)
                             for r in runs) if line]
    text += ["## Findings", ""]
    text += [f"- {line}" for line in found] or ["- No throughput results to summarise."]
    text += [""]
    for run in runs:
        text += throughput_tables(run)
    latency = [line for run in runs for line in latency_tables(run)]
    if latency:
        text += ["## Latency per request", "", *latency]
    text += counted_tables(runs)
    text += attribution.tables(runs)
    text += hook_tables(runs)
    text += device_tables(runs)
    if tables:
        text += ["## Comparison with " + runs[0].label, ""]
        for table in tables:
            differs = any(d is not None and d.significant for row in table.rows for d in row.deltas)
            shown = table.metric.key == "bytes_per_second" or (
                differs and (not table.metric.timing or table.metric.key.startswith("lat_")))
            if shown:
                text += [compare.render(table, runs), ""]
        text += [compare.legend(tables, tables[0].alpha), ""]
    if charts:
        drawn = plot.draw(runs, out / "charts")
        if drawn:
            text += ["## Charts", ""]
            for paths in drawn:
                png = paths[0]
                text += [f"![{png.stem}](charts/{png.name}) "
                         f"([SVG](charts/{png.with_suffix('.svg').name}))", ""]
    if recorded:
        text += ["## Call paths per hook (myfs, trace=once)", "",
                 "Per myfs hook: where its calls came from (read(2), a page fault, an io_uring "
                 "worker, ...) and how many came each way while trace=once recorded, then the "
                 "distinct call stacks, innermost frame first, by function name (offsets "
                 "differ between builds); `bio_submit` and `bio_complete` are the way down to "
                 "the device driver and back."
                 + (" Bold: frames that differ between runs." if len(recorded) > 1 else ""),
                 "", *callpaths.side_by_side(recorded, results.hook_order(runs))]
    text += method_table(runs)
    text += ["## Environment", "", environment_table(runs), ""]
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
