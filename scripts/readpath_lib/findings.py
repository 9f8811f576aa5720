"""The sentences a report leads with, from loaded runs and comparison tables.

Three rules keep them true: a path is ranked only against paths the engine says it ranks
with (`ranks_with`), and never when the two medians' 95% intervals overlap; a finding says
what was timed when the paths differ in it (a copy from a mapping made before timing is not
a read through mmap); and a significant difference between runs is stated beside the hook
counts and call paths that did or did not change, so it says what the kernel did
differently — or that it did the same work and only counted it differently. A moved tail of
the latency per request (p99) is told apart from a moved median (p50) the same way.
"""

import math

from . import analysis, attribution, callpaths, compare, results, stats
from .tables import markdown_table

GIB = 2**30
# Comparison findings listed per table before "and N more".
MAX_PER_TABLE = 6


def _gib(value):
    return "-" if value is None else f"{value / GIB:.2f}"


def where(run, target):
    """`myfs on 6.1.0-56-amd64 (emulated timings, TCG)`: each target has its own kernel."""
    kernel = run.context("kernel", None, target=target)
    return (f"{target}" + (f" on {kernel}" if kernel else "")
            + (" (emulated timings, TCG)" if run.emulated(target) else ""))


def facet_name(facet):
    file, warm = facet
    return f"file {results.format_size(file)}, {'warm' if warm else 'cold'}"


def _spread(p):
    """`±1.2%`: the half-width of the value's 95% interval over rounds, relative; "" with
    too few rounds for one."""
    if p.low is None or not p.value or not p.across_rounds:
        return ""
    return f" ±{max(p.high - p.value, p.value - p.low) / p.value * 100:.1f}%"


# ---------------------------------------------------------------- one run

def _ranked_cell(r, shown):
    """`**pread** 6.11 ±2.1% (1.04× read)`, or `pread ≈ read 6.11 ±2.1%` for a tie."""
    best, runner = shown(r.best), r.runner and shown(r.runner)
    value = _gib(r.best_point.value) + _spread(r.best_point)
    if runner is None:
        return f"{best} {value}"
    if r.tie:
        return f"{best} ≈ {runner} {value}"
    lead = r.best_point.value / r.runner_point.value
    return f"**{best}** {_gib(r.best_point.value)}{_spread(r.best_point)} ({lead:.2f}× {runner})"


def cheapest_table(runs):
    """The answer a report leads with: per native target and question (file size, cache
    state), the fastest of the paths that read a file's bytes through a system call (read(2)
    and io_uring: the engine's `syscall` rank group), per request size, with its interval and
    its lead over the next; ≈ where the two are within noise of each other (round by round).
    [] when no native run ranks anything."""
    rows, sizes, direct = [], set(), set()
    for run in runs:
        for target in run.targets():
            if run.emulated(target):
                continue
            kernel = run.context("kernel", None, target=target)
            prefix = f"{run.label}: " if len(runs) > 1 and run.label != kernel else ""
            curves = analysis.io_curves(run, target)
            for facet in analysis.ordered_facets(curves):
                series = analysis.read_paths(curves[facet])
                ranked = {r.io: r for r in analysis.fastest(series) if r.group == "syscall"}
                if not ranked:
                    continue
                sizes |= set(ranked)
                rows.append((f"{prefix}{target}, {facet_name(facet)}", ranked,
                             lambda label, series=series: _shown(series, label)))
                members = [label for label, s in series.items() if s.ranks_with == "syscall"]
                if any(analysis.direct(series[m]) for m in members) and \
                        not all(analysis.direct(series[m]) for m in members):
                    direct |= {m for m in members if analysis.direct(series[m])}
    if not rows:
        return []
    sizes = sorted(sizes)
    table = markdown_table(["", *[results.format_size(io) for io in sizes]],
                           [[name, *[_ranked_cell(ranked[io], shown) if io in ranked else "-"
                                     for io in sizes]] for name, ranked, shown in rows],
                           "l" * (len(sizes) + 1))
    return ["## Cheapest path per request size", "",
            "GiB/s of the fastest path that reads the file through read(2) or io_uring, with "
            "the 95% interval of its value over the rounds and its lead over the next; "
            "≈: the two fastest are within noise of each other, round by round. Copies out "
            "of a mapping and page-fault paths are not reads of this kind: their own "
            "findings follow.", "", table, ""] + ([
                f"{', '.join(sorted(direct))} read with O_DIRECT, bypassing the page cache: every "
                "request goes to the device, while the buffered reads beside them fill the page "
                "cache and read ahead, so where they meet the table ranks two kinds of path, "
                "not two ways of doing the same work.", ""] if direct else [])


def _mapping_sentences(series, facet, context):
    """Copies out of a mapping, set beside pread with what each timed."""
    base = series.get("pread") or series.get("read")
    if base is None:
        return []
    lines = []
    for label, s in sorted(series.items()):
        if not s.traits.get("keeps_mapping"):
            continue
        shared = [(p, base.at(p.x)) for p in s.points if base.at(p.x)]
        if not shared:
            continue
        ratios = [p.value / b.value for p, b in shared]
        state = ("memcpy from pages already mapped, no fault timed: not the cost of reading "
                 "through mmap") if facet[1] else "page faults included (evicted before each pass)"
        lo, hi = min(ratios), max(ratios)
        span = f"{lo:.2f}×" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}–{hi:.2f}×"
        lines.append(f"{label}, a copy out of a mapping that lives across passes, runs {span} "
                     f"{base.label} ({context}); {state}.")
    return lines


def _shown(series, label):
    """A path as findings name it: `pread_direct (O_DIRECT)` for one that bypasses the page
    cache."""
    s = series.get(label)
    return f"{label} (O_DIRECT)" if s is not None and analysis.direct(s) else label


def run_findings(runs):
    """Crossovers, copies out of mappings and fault costs of each native run (the fastest
    path per size is cheapest_table's)."""
    lines = []
    for run in runs:
        for target in run.targets():
            kernel = run.context("kernel", None, target=target)
            prefix = f"{run.label}, " if len(runs) > 1 and run.label != kernel else ""
            if run.emulated(target):
                continue  # TCG timings rank nothing; the tables still show them, marked
            curves = analysis.io_curves(run, target)
            for facet in analysis.ordered_facets(curves):
                series = analysis.read_paths(curves[facet])
                context = f"{prefix}{where(run, target)}, {facet_name(facet)}"
                direct_ref = analysis.direct_reference(series)
                for reference, name in (("read", "read(2)"),
                                        (direct_ref, f"{direct_ref} (O_DIRECT)")):
                    for label, io in analysis.crossovers(series, reference):
                        label = _shown(series, label)
                        if io is None:
                            lines.append(f"{label} beats {name} beyond noise at every size "
                                         f"({context}).")
                        else:
                            lines.append(f"{label} overtakes {name} beyond noise at "
                                         f"{results.format_size(io)} ({context}).")
                lines += _mapping_sentences(series, facet, context)
            for label, pts in sorted(analysis.fault_costs(run, target).items()):
                lo = min(p.value for _, p, _ in pts)
                hi = max(p.value for _, p, _ in pts)
                cost = f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}–{hi:.0f}"
                first, last = (results.format_size(pts[i][0]) for i in (0, -1))
                sizes = f"file size {first}" if first == last else f"file sizes {first}–{last}"
                lines.append(f"{label} (map, fault, one load per page, unmap): {cost} ns per "
                             f"4 KiB page at {sizes} ({prefix}{where(run, target)}, warm).")
    return lines


# ---------------------------------------------------------------- between runs

def _hooks(bench, order):
    """{hook: median calls per pass} of one cell, hooks that fired only."""
    if bench is None:
        return {}
    return {h: bench.median(f"myfs_{h}") for h in order
            if bench.values(f"myfs_{h}") and any(bench.values(f"myfs_{h}"))}


def _count(v):
    if isinstance(v, float) and abs(v) >= 1000:   # counted instructions: 16,260, not 1.626e+04
        return f"{v:,.0f}"
    return results.format_value(v, "")


# Per kernel counter: the myfs hooks whose calls it reflects (None: any of them), and what
# it means when those calls did not change in number but the counter did. A timing
# reflects every hook.
COUNTER_HOOKS = {
    "minflt": (("fault", "fault_minor", "map_pages", "map_pages_pages"),
               "the kernel accounts the same faults differently"),
    "majflt": (("fault", "fault_major", "readahead", "read_folio"),
               "the kernel accounts the same faults differently"),
    "ctxsw": (None, "the same calls slept or were preempted a different number of times "
                    "(their number did not change)"),
    **{key: (None, "the same hook calls took a different number of instructions: the change "
                   "is in the kernel's code on the path (or in work its vCPU did while the "
                   "reader waited)")
       for key in ("instructions_per_request", "kernel_instructions_per_request")},
}
# The device's requests against what myfs asked of it: with the same bios the difference is
# below myfs, in the block layer (plugging, the I/O scheduler's merges) or the device.
_SAME_BIOS = ("myfs submitted the same bios: the block layer below it (plugging, the I/O "
              "scheduler's merges) or the device made different requests of them")
COUNTER_HOOKS.update({key: (results.DEVICE_HOOKS, _SAME_BIOS)
                      for key in ("dev_reads", "dev_read_merges", "dev_read_kib")})
SAME_CALLS_TIMING = ("the same hook calls took a different time: the change is in how long "
                     "the path took (the kernel's code, myfs's hooks or the machine), not in "
                     "which hooks ran")


def explain(metric, base_bench, other_bench, base_paths, other_paths, order):
    """What myfs saw in one cell on both sides, and what that makes of a change of the
    metric: a sentence, or None when the cell has no hook counts."""
    before, after = _hooks(base_bench, order), _hooks(other_bench, order)
    if not before and not after:
        return None
    fired = [h for h in order if h in before or h in after]
    hooks_of, same_calls = COUNTER_HOOKS.get(metric.key, (None, SAME_CALLS_TIMING))
    related = [h for h in fired if hooks_of is None or h in hooks_of]
    changed = [h for h in fired if before.get(h) != after.get(h)]
    same = [h for h in (related or fired) if h not in changed]
    parts = []
    if same:
        parts.append("myfs saw the same " + ", ".join(f"{_count(before[h])} {h}" for h in same)
                     + " per pass on both")
    if changed:
        parts.append(("and " if same else "myfs saw ") + ", ".join(
            f"{h} {_count(before.get(h, 0))} → {_count(after.get(h, 0))}" for h in changed))
    moved = [h for h in fired if base_paths is not None and other_paths is not None
             and not callpaths.same_paths(base_paths, other_paths, h)]
    if moved:
        parts.append("the call path into " + ", ".join(f"`{h}`" for h in moved) + " differs")
    verdict = "the work changed" if any(h in changed for h in related) else same_calls
    return "; ".join(parts) + f" — {verdict}"


def _change(metric, base, d):
    """`17.8% slower (time [+17.1%, +18.4%])` for a time, `9 → 1` (medians) for a count."""
    if not d.significant and d.constant:
        return (f"{_count(base)} → {_count(d.value)} in every repetition (too few rounds to "
                "test it)")
    if d.exact or not metric.timing:
        return f"{_count(base)} → {_count(d.value)}"
    if metric.key == "time" and d.delta_pct not in (None, math.inf):
        direction = "slower" if d.delta_pct > 0 else "faster"
        return f"{abs(d.delta_pct):.1f}% {direction} (time {compare.format_ci(d)})"
    return f"{compare.format_delta(d.delta_pct)} {compare.format_ci(d)}".strip()


def _machine(table, j, runs):
    """What the reference cells (memcpy: user space only, no read path) say of how the
    machine itself moved between the runs in this table: a clause, or "" when the table has
    none (cold questions have no memcpy cell: the run-wide note speaks for them)."""
    reference = [row.deltas[j] for row in table.rows if row.deltas[j] is not None
                 and row.deltas[j].reference]
    ratios = [d.ratio for d in reference if d.ratio not in (None, math.inf)]
    if not ratios:
        return ""
    factor = stats.geomean(ratios)
    if any(d.significant for d in reference):
        return (f"; memcpy, which involves no kernel, moved too (×{factor:.2f}): the machine itself "
                f"changed between the runs, and changes of that size are the machine's")
    detectable = stats.median([d.detectable for d in reference if d.detectable is not None])
    within = (f", within what it could show (±{detectable:.0%} detectable)"
              if detectable is not None else ", with too few rounds to tell")
    return f"; memcpy, which involves no kernel, moved ×{factor:.2f}{within}"


# The counted metrics whose changes the kernel functions explain.
KERNEL_COUNTED = ("instructions_per_request", "kernel_instructions_per_request")


def comparison_findings(runs, tables, paths_by_run):
    """One sentence per table with significant changes: the changes, each with what myfs saw,
    and how the machine itself moved (the baseline cells) where the runs measured it."""
    lines = []
    for table in tables:
        timing = table.metric.timing
        if timing and table.metric.key != "time" or table.metric.key.startswith("myfs_") \
                or table.metric.key == "dev_read_avg_kib":
            continue   # throughput mirrors time, KiB per request is KiB over requests; hook
            # counts are the explanation, not the news
        for j, other in enumerate(runs[1:]):
            machine = _machine(table, j, runs) if timing else ""
            marked = [(row, row.deltas[j]) for row in table.rows
                      if row.deltas[j] is not None and not row.deltas[j].reference
                      and (row.deltas[j].significant or (
                          row.deltas[j].constant and row.deltas[j].p is None
                          and row.deltas[j].value != row.base))]
            emulated = " (emulated timings: TCG)" if timing and (
                table.emulated[j + 1] or table.emulated[0]) else ""
            what = f"{table.metric.title} on {table.target}, {table.question_name}{emulated}"
            head = f"{other.label} vs {runs[0].label}, {what}"
            if not marked:
                if timing:
                    geo = table.geomeans[j][0]
                    lines.append(head + (f": geometric mean ×{geo:.3f}" if geo else "")
                                 + "; no significant change after Holm correction" + machine + ".")
                continue
            marked.sort(key=lambda rd: abs(rd[1].delta_pct or 0), reverse=True)
            # Cells with the same change and the same explanation are told once.
            groups = {}
            for row, d in marked[:MAX_PER_TABLE]:
                why = explain(table.metric, row.bench, other.benchmarks.get(row.bench.key),
                              paths_by_run.get(runs[0].label), paths_by_run.get(other.label),
                              results.hook_order(runs))
                if table.metric.key in KERNEL_COUNTED:
                    moved = attribution.describe(runs[0].functions(row.bench.key),
                                                 other.functions(row.bench.key))
                    if moved:
                        why = f"kernel functions {moved}" + (f"; {why}" if why else "")
                groups.setdefault((_change(table.metric, row.base, d), why), []).append(
                    results.short_name(row.bench.name))
            parts = [f"{', '.join(names)} {change}" + (f": {why}" if why else "")
                     for (change, why), names in groups.items()]
            more = f"; and {len(marked) - MAX_PER_TABLE} more" if len(marked) > MAX_PER_TABLE \
                else ""
            lines.append(f"{head}: " + "; ".join(parts) + more + machine + ".")
    return lines


def _latency_change(d, base):
    """`431 ns → 1.2 µs (+180.0% [+150.0%, +210.0%])`: medians over the repetitions."""
    return (f"{results.format_value(base, 'ns')} → {results.format_value(d.value, 'ns')} "
            f"({compare.format_delta(d.delta_pct)} {compare.format_ci(d)})".replace(" )", ")"))


def latency_findings(runs, tables, paths_by_run):
    """One sentence per question where a run's p99 latency per request moved significantly:
    whether the median (p50) moved with it — "the tail moved, the median did not" — and the
    hook counts of those cells, which say when the tail is work the kernel did (a readahead,
    a device wait) in a few requests."""
    medians = {(t.target, t.question): t for t in tables if t.metric.key == "lat_p50_ns"}
    lines = []
    for table in tables:
        if table.metric.key != "lat_p99_ns":
            continue
        p50_table = medians.get((table.target, table.question))
        for j, other in enumerate(runs[1:]):
            p50_of = {row.bench.key: (row.base, row.deltas[j])
                      for row in (p50_table.rows if p50_table else [])}
            marked = [(row, row.deltas[j]) for row in table.rows
                      if row.deltas[j] is not None and row.deltas[j].significant]
            if not marked:
                continue
            marked.sort(key=lambda rd: abs(rd[1].delta_pct or 0), reverse=True)
            emulated = " (emulated timings: TCG)" if table.emulated[j + 1] or table.emulated[0] \
                else ""
            groups = {}
            for row, d in marked[:MAX_PER_TABLE]:
                change = f"p99 {_latency_change(d, row.base)}"
                base50, d50 = p50_of.get(row.bench.key, (None, None))
                if d50 is None:
                    change += ", no p50 to set beside it"
                elif d50.significant:
                    change += (f", p50 {_latency_change(d50, base50)} too: the whole "
                               "distribution moved")
                else:
                    change += (f", p50 {_latency_change(d50, base50)} within noise: the tail "
                               "moved, the median did not")
                why = explain(table.metric, row.bench, other.benchmarks.get(row.bench.key),
                              paths_by_run.get(runs[0].label), paths_by_run.get(other.label),
                              results.hook_order(runs))
                if table.metric.key in KERNEL_COUNTED:
                    moved = attribution.describe(runs[0].functions(row.bench.key),
                                                 other.functions(row.bench.key))
                    if moved:
                        why = f"kernel functions {moved}" + (f"; {why}" if why else "")
                groups.setdefault((change, why), []).append(results.short_name(row.bench.name))
            parts = [f"{', '.join(names)} {change}" + (f"; {why}" if why else "")
                     for (change, why), names in groups.items()]
            more = f"; and {len(marked) - MAX_PER_TABLE} more" if len(marked) > MAX_PER_TABLE \
                else ""
            lines.append(f"{other.label} vs {runs[0].label}, latency per request on "
                         f"{table.target}, {table.question_name}{emulated}: "
                         + "; ".join(parts) + more + ".")
    return lines


def path_findings(paths_by_run):
    """One sentence per hook not reached by the same stacks on every run: the entry points
    only some runs took (with their calls), and for an entry point they share, the functions
    each run's stacks pass through that the others' do not."""
    if len(paths_by_run) < 2:
        return []
    lines = []
    for hook in callpaths.differing_hooks(paths_by_run):
        per_run = {label: callpaths.entries(paths.get(hook)) for label, paths in
                   paths_by_run.items()}
        variants = []
        for label, by_entry in per_run.items():
            if not by_entry:
                variants.append(f"{label} never reached it")
                continue
            for entry, (calls, stacks) in by_entry.items():
                if entry == callpaths.UNRECORDED:
                    continue
                counted = "" if calls is None else f", {calls} calls"
                others = [o for r, o in per_run.items() if r != label]
                if not all(entry in o for o in others):
                    variants.append(f"only {label} reaches it from {entry}{counted}")
                    continue
                frames = {f for s in stacks for f in s.frames}
                elsewhere = [{f for s in o[entry][1] for f in s.frames} for o in others]
                only = [f for f in dict.fromkeys(f for s in stacks for f in s.frames)
                        if not all(f in e for e in elsewhere)]
                if only:
                    variants.append(f"{label} from {entry} via {', '.join(only)}")
                elif any(frames != e for e in elsewhere) or any(
                        callpaths.frame_set(stacks) != callpaths.frame_set(o[entry][1])
                        for o in others):
                    variants.append(f"{label} from {entry} by the same functions in "
                                    "another order or combination")
        lines.append(f"The call path into myfs `{hook}` differs: " + "; ".join(variants) + ".")
    return lines
