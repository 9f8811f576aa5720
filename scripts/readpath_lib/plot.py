"""Draw charts (PNG and SVG) from result JSON; never re-runs anything.

Per run and filesystem: throughput vs I/O size per read path (log x), the same as a ratio
to pread with the points where io_uring and mmap overtake read(2), fault cost per page vs
file size, and scaling with threads. Given two or more runs, also each run's throughput
relative to the first with 95% confidence intervals. Timings from a TCG guest are marked
"emulated" in every title.

Examples:
  readpath plot results/2026-11-21-6.12.117+deb12-amd64-box
  readpath plot base.json new.json --out /tmp/charts
"""

import math
from pathlib import Path

from . import analysis, results, stats
from .compare import sort_key as compare_sort_key
from .errors import UsageError

HELP = "draw PNG and SVG charts from result files or run folders (reads JSON only)"
GIB = 2**30


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RESULT",
                        help="result JSON files or run folders; with several, the first is "
                             "the baseline of the comparison chart")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write the charts (default: RESULT/charts when the "
                             "first RESULT is a run folder)")


def output_dir(first, out):
    if out:
        path = Path(out)
    elif Path(first).is_dir():
        path = Path(first) / "charts"
    else:
        raise UsageError(f"{first} is a file, so say where the charts go: --out DIR")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create {path}: {err.strerror}")
    return path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True,
                         "grid.alpha": 0.3, "font.size": 9, "axes.titlesize": 10,
                         "legend.fontsize": 8, "svg.fonttype": "none"})
    return plt


def _save(plt, fig, out, stem):
    written = []
    for ext in ("png", "svg"):
        path = out / f"{stem}.{ext}"
        fig.savefig(path, bbox_inches="tight")
        written.append(path)
    plt.close(fig)
    return written


def _size_axis(ax, values, label):
    from matplotlib.ticker import FixedLocator, NullLocator
    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([results.format_size(v) for v in ticks])
    ax.set_xlabel(label)


def _where(run, target):
    """'on tmpfs, kernel 6.12…' plus the TCG mark, for titles."""
    text = f"{target}, kernel {run.context('kernel', target=target) or '?'}"
    if run.emulated(target):
        text += " — EMULATED timings (TCG), compare shapes only"
    return text


def _grid(plt, n, width=4.2, height=3.2):
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 0.3, height * rows + 0.8),
                             layout="constrained",
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legend(fig, axes, extra=()):
    """One legend for all panels, outside them on the right, so it hides no line."""
    from matplotlib.lines import Line2D
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    for marker, label in extra:
        seen[label] = Line2D([], [], marker=marker, ms=11, color="grey", mec="black",
                             mew=0.6, ls="none")
    fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False)


def _styles(names):
    """A fixed colour and line style per series, the same in every panel; past ten series
    the colours repeat with another dash pattern, so no two lines look alike."""
    import matplotlib
    colors = matplotlib.colormaps["tab10"].colors
    dashes = ["-", "--", "-.", ":"]
    return {name: {"color": colors[i % 10], "ls": dashes[(i // 10) % len(dashes)]}
            for i, name in enumerate(sorted(set(names)))}


def _facet_title(facet):
    file, warm = facet
    return f"file {results.format_size(file)}, {'warm' if warm else 'cold'} cache"


def chart_throughput(plt, run, target, out, tag):
    curves = analysis.io_curves(run, target)
    if not curves:
        return []
    facets = analysis.ordered_facets(curves)
    styles = _styles(name for f in facets for name in curves[f])
    fig, axes = _grid(plt, len(facets))
    for ax, facet in zip(axes, facets):
        series = curves[facet]
        for name in sorted(series):
            pts = series[name]
            ax.plot([p[0] for p in pts], [p[1] / GIB for p in pts], marker="o", ms=3, label=name,
                    **styles[name])
        _size_axis(ax, [p[0] for s in series.values() for p in s], "I/O size per request")
        ax.set_ylabel("throughput (GiB/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(_facet_title(facet))
    _legend(fig, axes)
    fig.suptitle(f"Read throughput vs I/O size per path ({_where(run, target)})")
    return _save(plt, fig, out, f"throughput-{tag}")


def chart_ratio(plt, run, target, out, tag):
    curves = analysis.io_curves(run, target)
    facets = [f for f in analysis.ordered_facets(curves) if analysis.baseline_series(curves[f])]
    if not facets:
        return []
    styles = _styles(name for f in facets for name in curves[f])
    fig, axes = _grid(plt, len(facets))
    for ax, facet in zip(axes, facets):
        series = curves[facet]
        base = analysis.baseline_series(series)
        ratio = analysis.ratios(series, base)
        colors = {}
        for name in sorted(ratio):
            pts = ratio[name]
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3,
                            label=name, lw=2.2 if name == base else 1.4, **styles[name])
            colors[name] = line.get_color()
        for name, io in analysis.crossovers(series):
            r = dict(ratio.get(name, []))
            if io is not None and io in r:
                ax.plot([io], [r[io]], marker="*", ms=13, color=colors[name], mec="black",
                        mew=0.6, ls="none", label="_crossover")
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        _size_axis(ax, [p[0] for s in ratio.values() for p in s], "I/O size per request")
        ax.set_ylabel(f"throughput relative to {base} (×)")
        ax.set_title(_facet_title(facet))
    _legend(fig, axes, extra=[("*", "overtakes read(2) here")])
    fig.suptitle(f"Each path relative to {base}; above 1 is faster ({_where(run, target)})")
    return _save(plt, fig, out, f"ratio-{tag}")


def chart_fault_cost(plt, run, target, out, tag):
    costs = analysis.fault_costs(run, target)
    costs = {k: v for k, v in costs.items() if len(v) > 1}
    if not costs:
        return []
    has_faults = any(p[2] is not None for pts in costs.values() for p in pts)
    fig, axes = _grid(plt, 2 if has_faults else 1)
    for name in sorted(costs):
        pts = costs[name]
        axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
        if has_faults:
            axes[1].plot([p[0] for p in pts], [p[2] or 0 for p in pts], marker="o", ms=3,
                         label=name)
    files = [p[0] for pts in costs.values() for p in pts]
    _size_axis(axes[0], files, "file size")
    axes[0].set_ylabel("ns per 4 KiB page")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("time per page mapped and read")
    axes[0].legend(loc="best")
    if has_faults:
        _size_axis(axes[1], files, "file size")
        axes[1].set_ylabel("minor faults per 4 KiB page")
        axes[1].set_ylim(bottom=0)
        axes[1].set_title("faults per page (fault-around lowers it)")
    fig.suptitle(f"mmap fault cost per page vs file size ({_where(run, target)})")
    return _save(plt, fig, out, f"fault-cost-{tag}")


def chart_threads(plt, run, target, out, tag):
    scaling = analysis.thread_scaling(run, target)
    if not scaling:
        return []
    files = sorted(scaling, key=lambda f: f or 0)
    fig, axes = _grid(plt, len(files))
    for ax, file in zip(axes, files):
        for name, pts in scaling[file].items():
            ax.plot([p[0] for p in pts], [p[1] / GIB for p in pts], marker="o", ms=3, label=name)
        threads = sorted({p[0] for pts in scaling[file].values() for p in pts})
        ax.set_xticks(threads)
        ax.set_xlabel("reader threads")
        ax.set_ylabel("total throughput (GiB/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"file {results.format_size(file)}, warm cache")
    _legend(fig, axes)
    placement = run.context("placement", "none", target=target)
    fig.suptitle(f"Scaling with reader threads, placement {placement} ({_where(run, target)})")
    return _save(plt, fig, out, f"threads-{tag}")


def chart_runs(plt, runs, target, out, tag):
    """Each run's throughput relative to the first, per benchmark, with 95% CIs."""
    base = runs[0]
    names = [name for _, name in sorted(((target, b.name) for b in analysis.usable(base, target)),
                                        key=compare_sort_key)]
    rows = []
    for name in names:
        key = (target, name)
        entry = []
        for other in runs[1:]:
            ob = other.benchmarks.get(key)
            if ob is None or ob.skipped or not ob.values("bytes_per_second"):
                entry.append((None, None))
                continue
            entry.append(stats.ratio_ci(base.benchmarks[key].values("bytes_per_second"),
                                        ob.values("bytes_per_second")))
        if any(r is not None for r, _, _ in entry):
            rows.append((name, entry))
    if not rows:
        return []
    n_other = len(runs) - 1
    height = 0.8 / n_other
    fig, axes = _grid(plt, 1, width=7.5, height=max(2.5, 0.28 * len(rows) * max(1, n_other / 1.5)))
    ax = axes[0]
    for j, other in enumerate(runs[1:]):
        ys, xs, lows, highs = [], [], [], []
        for i, (_, entry) in enumerate(rows):
            ratio, low, high = entry[j]
            if ratio is None:
                continue
            ys.append(i + (j - (n_other - 1) / 2) * height)
            xs.append(ratio)
            lows.append(ratio - low)
            highs.append(high - ratio)
        label = other.label + (" (emulated, TCG)" if other.emulated(target) else "")
        ax.barh(ys, [x - 1 for x in xs], left=1, height=height * 0.9, xerr=[lows, highs],
                capsize=2, label=label, error_kw={"lw": 0.8})
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([results.short_name(name) for name, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"throughput relative to {base.label} (ratio of means, log scale, 95% CI)")
    ax.legend(loc="best")
    where = target + (" — EMULATED timings (TCG)" if any(r.emulated(target) for r in runs) else "")
    ax.set_title(f"{' vs '.join(r.label for r in runs[1:])} against {base.label} on {where}")
    return _save(plt, fig, out, f"runs-{tag}")


def _tag(run, target, many):
    return f"{target}-{run.label}" if many else target


def draw(runs, out):
    """Draw every chart the data allows; returns [(title-ish stem, [paths])]."""
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    written = []
    many = len(runs) > 1
    for run in runs:
        for target in run.targets():
            tag = _tag(run, target, many)
            for chart in (chart_throughput, chart_ratio, chart_fault_cost, chart_threads):
                paths = chart(plt, run, target, out, tag)
                if paths:
                    written.append(paths)
    if many:
        for target in runs[0].targets():
            paths = chart_runs(plt, runs, target, out, target)
            if paths:
                written.append(paths)
    return written


def run(args):
    runs = results.load_all(args.runs)
    out = output_dir(args.runs[0], args.out)
    written = draw(runs, out)
    if not written:
        raise UsageError("nothing to chart: the results have no throughput values "
                         "(were all cells skipped?)")
    for paths in written:
        print(" ".join(str(p) for p in paths))
    return 0
