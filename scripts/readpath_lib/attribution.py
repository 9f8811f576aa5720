"""Where a cell's counted kernel instructions go: readpath_icount's per-block counts named by
the guest's /proc/kallsyms (results.Run.functions), as tables and sentences for the report
and the findings. A function whose share moved by more than the counts' own A/A spread
(results.COUNTED_SPREAD, of the cell's kernel count) is a function that changed."""

from . import results
from .tables import markdown_table

TOP = 5            # functions named in a sentence or a one-run row
TABLE_ROWS = 10    # functions in a side-by-side table, before "other"
MAX_CELLS = 8      # side-by-side tables per target


def top(functions, n=TOP):
    """[(function, per request)] of the n largest, then ("other", the rest) when any."""
    items = list(functions.items())
    shown, rest = items[:n], sum(v for _, v in items[n:])
    return shown + ([("other", rest)] if rest > 0 else [])


def contributors(base, other, n=TOP):
    """[(function, change per request)] of the n functions that moved most between two
    cells' functions, largest first by size, then ("other", the rest's change) when any."""
    names = set(base) | set(other)
    changes = sorted(((fn, other.get(fn, 0.0) - base.get(fn, 0.0)) for fn in names),
                     key=lambda item: (-abs(item[1]), item[0]))
    shown, rest = changes[:n], sum(d for _, d in changes[n:])
    return shown + ([("other", rest)] if round(rest) != 0 else [])


def _signed(value):
    return f"{value:+,.0f}".replace("-", "−")


def describe(base, other, n=TOP):
    """`unwind_next_frame +1,379, __orc_find +911, … other +42`, or None when either side
    has no attribution."""
    if not base or not other:
        return None
    return ", ".join(f"{fn} {_signed(d)}" for fn, d in contributors(base, other, n) if round(d) != 0) \
        or None


def _moved(values, total):
    """Whether a function's counts in several runs differ beyond the A/A spread of the
    cell's kernel count."""
    present = [v for v in values if v is not None]
    return len(present) > 1 and max(present) - min(present) > results.COUNTED_SPREAD * total


def tables(runs):
    """Markdown lines: per target, with one run, its cells' top functions a row each; with
    several, a table per cell whose kernel count differs between runs (up to MAX_CELLS),
    its functions side by side, bold where they moved. [] without attribution."""
    out = []
    for target in sorted({t for r in runs for t in r.targets()}):
        keys = sorted({b.key for r in runs for b in r.benchmarks.values()
                       if b.target == target and r.functions(b)}, key=results.sort_key)
        if not keys:
            continue
        if len(runs) == 1:
            out += _one_run(runs[0], target, keys)
        else:
            out += _side_by_side(runs, target, keys)
    return out


def _one_run(run, target, keys):
    rows = []
    for key in keys:
        functions = run.functions(key)
        total = sum(functions.values())
        rows.append([results.short_name(key[1]), f"{total:,.0f}",
                     "; ".join(f"{fn} {v:,.0f}" for fn, v in top(functions))])
    return [f"### Where the kernel instructions go on {target} (counted under TCG)", "",
            markdown_table(["benchmark", "kernel instructions per request",
                            f"largest {TOP} functions per request, then the rest"], rows, "lrl"),
            "", _NOTE, ""]


def _side_by_side(runs, target, keys):
    out, differing = [], []
    for key in keys:
        sides = [r.functions(key) for r in runs]
        totals = [sum(f.values()) if f else None for f in sides]
        if _moved(totals, min(t for t in totals if t is not None)):
            differing.append((key, sides, totals))
    if not differing:
        return [f"### Where the kernel instructions go on {target} (counted under TCG)", "",
                f"Every cell's kernel instructions per request agree within the counts' "
                f"A/A spread (±{results.COUNTED_SPREAD * 100:g}%) in "
                f"{', '.join(r.label for r in runs)}.", ""]
    out.append(f"### Where the kernel instructions go on {target} (counted under TCG)")
    out.append("")
    for key, sides, totals in differing[:MAX_CELLS]:
        base = sides[0] or {}
        names = []
        for side in sides[1:]:
            names += [fn for fn, _ in contributors(base, side or {}, TABLE_ROWS) if fn != "other"]
        names = list(dict.fromkeys(names))[:TABLE_ROWS]
        rows = []
        total = min(t for t in totals if t is not None)
        for fn in names:
            values = [None if side is None else side.get(fn, 0.0) for side in sides]
            rows.append(_row(fn, values, total))
        rest = [None if side is None else sum(v for fn, v in side.items() if fn not in names)
                for side in sides]
        rows.append(_row("other", rest, total))
        rows.append(_row("**total**", totals, total))
        out += [f"`{results.short_name(key[1])}`, per request:", "",
                markdown_table(["function", *[r.label for r in runs]], rows,
                               "l" + "r" * len(runs)), ""]
    if len(differing) > MAX_CELLS:
        out += [f"And {len(differing) - MAX_CELLS} more cells whose count differs.", ""]
    out += [_NOTE + " The functions that moved most are listed; bold where they moved by "
            f"more than {results.COUNTED_SPREAD * 100:g}% of the cell's kernel count.", ""]
    return out


def _row(name, values, total):
    texts = ["-" if v is None else f"{v:,.0f}" for v in values]
    if _moved(values, total):
        texts = [f"**{t}**" for t in texts]
    return [name, *texts]


_NOTE = ("Kernel instructions of the reader's vCPU during the timed passes, by the function "
         "each translation block starts in (the guest's /proc/kallsyms; myfs's as "
         "`name [myfs]`), the median of the rounds (docs/contracts.md, \"Counted cost\").")
