"""The charts (PNG and SVG) of result runs, drawn from their JSON alone; what they show is
`readpath plot`'s description (commands/plot.py). draw() is the entry point."""

from . import analysis, compare, results

GIB = 2**30

# Methods of results written before the engine recorded its method table have no family
# to share a ramp with: each gets a colour of its own.
UNKNOWN_FAMILY = "other"
UNKNOWN_COLORS = "tab10"
# The engine's families, each a colour ramp; a method is a shade of its family's ramp.
FAMILY_RAMPS = {"read": "Blues", "uring": "Greens", "mmap": "Oranges", "baseline": "Greys"}
FAMILY_TITLES = {"read": "read(2) and pread(2)", "uring": "io_uring", "mmap": "mmap",
                 "baseline": "baseline", UNKNOWN_FAMILY: "methods without a family in the results"}
# Variants of one method (qd:1, qd:8): same colour, these line styles and markers.
VARIANT_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (6, 2, 1, 2)), "v")]
# Runs in the runs chart are told apart by these, never by the methods' colours.
RUN_COLORS = ["#333333", "#7b3294", "#c2185b", "#00838f", "#6d4c41"]
NOISY_NOTE = (f"hollow: its rounds vary by more than {analysis.NOISY_CV:.0%}\n"
              "(with one round: its repetitions)")
CI_NOTE = "point: rounds' geometric mean, bar: its 95% CI"
NO_CI_NOTE = "no bar: fewer than 3 rounds, no interval"
# When no point is solid the chart says what would make some solid.
ALL_NOISY_NOTE = (f"every point hollow: rounds vary by more than {analysis.NOISY_CV:.0%}\n"
                  "here; more rounds (--rounds), no other load\n"
                  "or a quieter machine would steady them")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True,
                         "grid.alpha": 0.3, "font.size": 9, "axes.titlesize": 9.5,
                         "figure.titlesize": 11, "legend.fontsize": 8.5,
                         "svg.fonttype": "none"})
    return plt


# The longest side a PNG may have: a chart should fit a screen.
MAX_PIXELS = 1600


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _save(plt, fig, out, stem):
    # A filesystem that statfs alone named (in a chroot) is "ext2/ext3/ext4": one file, not
    # a folder.
    stem = stem.replace("/", "-")
    written = []
    for ext in ("png", "svg"):
        path = out / f"{stem}.{ext}"
        fig.savefig(path, bbox_inches="tight")
        if ext == "png" and max(_png_size(path)) > MAX_PIXELS:   # drawn too large: fit it
            dpi = plt.rcParams["savefig.dpi"] * MAX_PIXELS / max(_png_size(path))
            fig.savefig(path, bbox_inches="tight", dpi=dpi)
        written.append(path)
    plt.close(fig)
    return written


def _where(run, target):
    """'tmpfs, kernel 6.12…' for titles."""
    return f"{target}, kernel {run.context('kernel', target=target) or '?'}"


def _facet_title(facet):
    file, warm = facet
    return f"file {results.format_size(file)}, {'warm' if warm else 'cold'} cache"


def _split_label(label):
    """'uring qd:32 io:64K' -> ('uring', 'qd:32'): the method and what tells its variants
    apart (the I/O size a thread chart appends is the same for all of them)."""
    method, *rest = label.split()
    return method, " ".join(t for t in rest if not t.startswith("io:"))


def _variant_key(variant):
    return [(0, int(v)) if v.lstrip("-").isdigit() else (1, v)
            for v in (t.split(":", 1)[-1] for t in variant.split())]


class Palette:
    """One colour per method in every chart of a draw, from the runs' method tables: the
    family picks the ramp, the method's place among its family in the table the shade.
    Variants of a method share its colour and get a line style and marker, ranked by
    their parameters over all runs so qd:8 looks the same wherever it appears."""

    def __init__(self, runs):
        import matplotlib
        self.traits = {}
        for run in runs:
            for name, traits in run.methods.items():
                self.traits.setdefault(name, traits)
        methods = {b.method for run in runs for b in run.benchmarks.values()}
        order = list(self.traits) + sorted(methods - set(self.traits))
        self.families = []
        members = {}
        for name in order:
            family = self.family(name)
            if family not in members:
                self.families.append(family)
                members[family] = []
            members[family].append(name)
        self.rank = {name: i for i, name in enumerate(order)}
        self.colors = {}
        for family, names in members.items():
            if family not in FAMILY_RAMPS:
                colors = matplotlib.colormaps[UNKNOWN_COLORS].colors
                for i, name in enumerate(names):
                    self.colors[name] = matplotlib.colors.to_hex(colors[i % len(colors)])
                continue
            ramp = matplotlib.colormaps[FAMILY_RAMPS[family]]
            # darkest first; never lighter than 0.45, where a thin line fades on white
            shades = [0.85] if len(names) == 1 else \
                [0.95 - 0.5 * i / (len(names) - 1) for i in range(len(names))]
            for name, shade in zip(names, shades):
                self.colors[name] = matplotlib.colors.to_hex(ramp(shade))
        variants = {}
        for run in runs:
            for bench in run.benchmarks.values():
                variants.setdefault(bench.method, set()).add(
                    _split_label(analysis.series_label(bench))[1])
        self.variants = {m: sorted(v, key=_variant_key) for m, v in variants.items()}

    def family(self, method):
        return self.traits.get(method, {}).get("family") or UNKNOWN_FAMILY

    def color(self, method):
        return self.colors.get(method, "#777777")

    def style(self, label):
        """{color, ls, marker} of a series label ('uring qd:32')."""
        method, variant = _split_label(label)
        known = self.variants.get(method, [])
        index = known.index(variant) if variant in known else 0
        ls, marker = VARIANT_STYLES[index % len(VARIANT_STYLES)]
        return {"color": self.color(method), "ls": ls, "marker": marker}

    def _place(self, method):
        """Where a method sorts: its family's place, then its own, in the table."""
        return (self.families.index(self.family(method)), self.rank[method])

    def order(self, labels):
        """Series labels by family, the method's place in the table, then variant."""
        def key(label):
            method, variant = _split_label(label)
            return self._place(method), _variant_key(variant)
        return sorted(labels, key=key)

    def cell_order(self, keys):
        """(target, name) keys of cells by family, the method's place, then parameters."""
        return sorted(keys, key=lambda k: (self._place(results.parse_name(k[1])[0]),
                                           results.sort_key(k)))

    def columns(self, labels):
        """The family panels these series need, in table order; a baseline method is a
        reference drawn in every panel, not a panel of its own."""
        used = {self.family(_split_label(label)[0]) for label in labels}
        columns = [f for f in self.families if f in used and f != "baseline"]
        return columns or [f for f in self.families if f in used]

    def in_column(self, label, column):
        family = self.family(_split_label(label)[0])
        return family == column or family == "baseline"


class Key:
    """The one legend of a figure, outside the panels on the right: the series drawn,
    grouped under their family, then notes on how to read the marks."""

    def __init__(self, palette):
        self.palette = palette
        self.labels = set()
        self.without_ci = False
        self.noisy = False
        self.solid = False         # a point drawn filled
        self.notes = []            # (handle or None, text)
        self.intervals = True      # points with intervals: the note on how to read them

    def add(self, label):
        self.labels.add(label)

    def saw(self, points, noisy_xs=()):
        self.without_ci |= any(p.low is None or p.high is None or
                               (p.estimate is not None and not p.across_rounds) for p in points)
        self.noisy |= any(p.noisy or p.x in noisy_xs for p in points)
        self.solid |= any(not (p.noisy or p.x in noisy_xs) for p in points)

    def draw(self, fig):
        from matplotlib.lines import Line2D
        blank = Line2D([], [], ls="none")
        handles, texts, headers = [], [], []
        last_family = None
        for label in self.palette.order(self.labels):
            family = self.palette.family(_split_label(label)[0])
            if family != last_family and len(self.palette.families) > 1:
                headers.append(len(texts))
                handles.append(blank)
                texts.append(FAMILY_TITLES.get(family, family))
                last_family = family
            style = self.palette.style(label)
            handles.append(Line2D([], [], color=style["color"], ls=style["ls"],
                                  marker=style["marker"], ms=5, lw=1.5))
            # As findings name them: an O_DIRECT path is not a page-cache read.
            direct = self.palette.traits.get(_split_label(label)[0], {}).get("direct")
            texts.append(f"{label} (O_DIRECT)" if direct else label)
        notes = [*([(_ci_handle(), CI_NOTE)] if self.intervals else []), *self.notes]
        if self.without_ci:
            notes.append((Line2D([], [], marker="o", color="0.35", ls="none", ms=5), NO_CI_NOTE))
        if self.noisy:
            notes.append((Line2D([], [], marker="o", mfc="white", mec="0.35", mew=1.2,
                                 ls="none", ms=5), NOISY_NOTE if self.solid else ALL_NOISY_NOTE))
        if notes and texts:
            handles.append(blank)
            texts.append("")
        for handle, text in notes:
            handles.append(handle or blank)
            texts.append(text)
        legend = fig.legend(handles, texts, loc="center left", bbox_to_anchor=(1.0, 0.5),
                            frameon=False, handlelength=2.6)
        for i in headers:
            legend.get_texts()[i].set_fontweight("bold")
        # a legend taller than its figure would be cut or squeeze the panels: grow instead
        fig.set_figheight(max(fig.get_figheight(), 0.2 * len(texts) + 0.5))
        return legend


def _ci_handle(vertical=True):
    """A legend handle that looks like a point with an error bar."""
    from matplotlib.collections import LineCollection
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D
    point = Line2D([], [], marker="o", color="0.35", ls="none", ms=5)
    caps = tuple(Line2D([], [], marker="_" if vertical else "|", color="0.35", ms=5)
                 for _ in range(2))
    return ErrorbarContainer((point, caps, (LineCollection([], colors="0.35"),)),
                             has_yerr=vertical, has_xerr=not vertical)


def _cell_label(bench):
    """'uring io:4K file:1M warm:0 qd:8': a cell as the charts name it."""
    return analysis.series_label(bench, drop=()).replace(" threads:1", "")


def _dodge(index, count, step=0.1):
    """A factor that moves series `index` of `count` sideways by a fraction of an octave on
    a log-2 axis, so error bars at the same x do not hide one another; all of them stay
    within 0.6 octave, inside the axis margin."""
    step = min(step, 0.6 / max(count - 1, 1))
    return 2 ** ((index - (count - 1) / 2) * step)


def _draw_points(ax, points, style, scale=1.0, dodge=1.0, noisy_xs=(), gid=None):
    """A series of medians: the line, its 95% CIs as bars, filled or (noisy) hollow marks."""
    xs = [p.x * dodge for p in points]
    ys = [p.value * scale for p in points]
    color = style["color"]
    line, = ax.plot(xs, ys, color=color, ls=style["ls"], lw=1.5, zorder=2)
    if gid:
        line.set_gid(gid)
    bars = [(x, p) for x, p in zip(xs, points) if p.low is not None and p.high is not None
            and (p.estimate is None or p.across_rounds)]
    if bars:
        ax.errorbar([x for x, _ in bars], [p.value * scale for _, p in bars],
                    yerr=[[(p.value - p.low) * scale for _, p in bars],
                          [(p.high - p.value) * scale for _, p in bars]],
                    fmt="none", ecolor=color, elinewidth=1.0, capsize=2.5, zorder=2)
    for hollow in (False, True):
        marks = [(x, y) for x, y, p in zip(xs, ys, points)
                 if (p.noisy or p.x in noisy_xs) == hollow]
        if marks:
            ax.plot([x for x, _ in marks], [y for _, y in marks], ls="none",
                    marker=style["marker"], ms=5, color=color,
                    mfc="white" if hollow else color, mec=color, mew=1.2, zorder=3)


def _gid(label, panel):
    return f"series/{label.replace(' ', '_').replace(':', '=')}/{panel}"


def _log2_axis(ax, values, label, formatter=results.format_size):
    from matplotlib.ticker import FixedLocator, NullLocator
    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([formatter(v) for v in ticks])
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 2, ticks[0] * 2)
    else:
        ax.set_xlim(ticks[0] / 2 ** 0.6, ticks[-1] * 2 ** 0.6)
    ax.set_xlabel(label)


def _ratio_axis(ax, axis="y"):
    """A log axis of ratios with ticks at round values: 1-2-5 steps over a wide range,
    tenths over a narrow one, so no two labels crowd each other."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    getattr(ax, f"set_{axis}scale")("log")
    low, high = getattr(ax, f"get_{axis}lim")()
    low, high = min(low, 0.95), max(high, 1.05)
    getattr(ax, f"set_{axis}lim")(low, high)
    levels = [[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100],
              [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.5, 1.75, 2, 2.5, 3],
              [0.9, 0.95, 1, 1.05, 1.1]]
    for level in levels:
        ticks = [t for t in level if low <= t <= high]
        if len(ticks) >= 3:
            break
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(FixedLocator(ticks))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))


def _grid(plt, rows, cols, width=None, height=2.4, sharey="row"):
    width = width or max(3.3, 6.0 / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.7),
                             squeeze=False, sharex=True, sharey=sharey, layout="constrained")
    return fig, axes


def _fault_only_note(key, labels, tag):
    if labels:
        key.notes.append((None, f"not here: {', '.join(sorted(labels))}"))
        key.notes.append((None, f"(touch pages only; see fault-cost-{tag})"))


def _family_panels(plt, palette, facets, series_of, draw_panel, ylabel):
    """A figure of one row per facet and one panel per family (shared y within a row);
    draw_panel(ax, facet, labels, panel) draws the series of that family and facet."""
    columns = palette.columns({label for f in facets for label in series_of(f)})
    fig, axes = _grid(plt, len(facets), len(columns))
    for r, facet in enumerate(facets):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            labels = palette.order(label for label in series_of(facet)
                                   if palette.in_column(label, column))
            if labels:
                draw_panel(ax, facet, labels, r * len(columns) + c)
            else:
                ax.text(0.5, 0.5, "no cells", transform=ax.transAxes, ha="center",
                        va="center", color="0.5")
            if r == 0:
                ax.set_title(FAMILY_TITLES.get(column, column), fontweight="bold")
            if c == 0:
                ax.set_ylabel(f"{_facet_title(facet)}\n{ylabel}")
            if r < len(facets) - 1:
                ax.set_xlabel("")
    return fig, axes


def chart_throughput(plt, palette, run, target, out, tag):
    curves = analysis.io_curves(run, target)
    paths = {f: analysis.read_paths(s) for f, s in curves.items()}
    paths = {f: s for f, s in paths.items() if s}
    if not paths:
        return []
    facets = analysis.ordered_facets(paths)
    key = Key(palette)
    ios = [p.x for f in facets for s in paths[f].values() for p in s.points]
    reference = set()

    def panel(ax, facet, labels, index):
        base = analysis.baseline_series(paths[facet])
        if base and base not in labels:
            # the other families' panels show the baseline faintly, to compare across
            series = paths[facet][base]
            ax.plot([p.x for p in series.points], [p.value / GIB for p in series.points],
                    color=palette.color(series.method), lw=2.5, alpha=0.3, zorder=1)
            reference.add(base)
        for i, label in enumerate(labels):
            series = paths[facet][label]
            _draw_points(ax, series.points, palette.style(label), 1 / GIB,
                         _dodge(i, len(labels)), gid=_gid(label, index))
            key.add(label)
            key.saw(series.points)
        _log2_axis(ax, ios, "I/O size per request")

    fig, axes = _family_panels(plt, palette, facets, lambda f: paths[f], panel,
                               "throughput (GiB/s)")
    for row in axes:
        row[0].set_ylim(bottom=0)   # after every panel of the row is drawn: shared y
    if reference:
        from matplotlib.lines import Line2D
        base = sorted(reference)[0]
        key.notes.append((Line2D([], [], color=palette.color(base), lw=2.5, alpha=0.3),
                          f"{base} in the other panels"))
    _fault_only_note(key, {label for s in curves.values() for label, v in s.items()
                           if v.fault_only}, tag)
    key.draw(fig)
    fig.suptitle(f"Read throughput vs I/O size, one panel per family ({_where(run, target)})")
    return _save(plt, fig, out, f"throughput-{tag}")


def chart_ratio(plt, palette, run, target, out, tag):
    curves = {f: analysis.read_paths(s) for f, s in analysis.io_curves(run, target).items()}
    facets = [f for f in analysis.ordered_facets(curves) if analysis.baseline_series(curves[f])]
    ratios, stars, base = {}, {}, None
    for facet in facets:
        base = analysis.baseline_series(curves[facet])
        ratios[facet] = {label: pts for label, pts
                         in analysis.ratios(curves[facet], base).items() if label != base}
        stars[facet] = analysis.crossovers(curves[facet])
    facets = [f for f in facets if ratios[f]]
    if not facets:
        return []
    key = Key(palette)
    ios = [p.x for f in facets for pts in ratios[f].values() for p in pts]

    def panel(ax, facet, labels, index):
        series = curves[facet]
        reference = series[analysis.baseline_series(series)]
        for i, label in enumerate(labels):
            pts = ratios[facet][label]
            noisy = {p.x for p in pts if series[label].at(p.x).noisy
                     or (reference.at(p.x) and reference.at(p.x).noisy)}
            style = palette.style(label)
            dodge = _dodge(i, len(labels))
            _draw_points(ax, pts, style, dodge=dodge, noisy_xs=noisy, gid=_gid(label, index))
            key.add(label)
            key.saw(pts, noisy)
            for star_label, io in stars[facet]:
                if star_label != label:
                    continue
                at = next((p for p in pts if io is None or p.x == io), None)
                if at is not None:
                    ax.plot([at.x * dodge], [at.value], marker="*", ms=14, color=style["color"],
                            mec="black", mew=0.7, ls="none", zorder=4)
        ax.axhline(1.0, color="black", lw=0.9, ls="--", zorder=1)
        _log2_axis(ax, ios, "I/O size per request")

    fig, axes = _family_panels(plt, palette, facets, lambda f: ratios[f], panel,
                               f"throughput ÷ {base}")
    for row in axes:
        _ratio_axis(row[0])
    from matplotlib.lines import Line2D
    key.notes.append((Line2D([], [], color="black", lw=0.9, ls="--"), f"{base} (= 1×)"))
    if any(stars.values()):
        key.notes.append((Line2D([], [], marker="*", ms=12, color="0.6", mec="black", mew=0.7,
                                 ls="none"), "io_uring overtakes read(2) here"))
        key.notes.append((None, "(beyond noise: the 95% CIs are apart)"))
    key.draw(fig)
    fig.suptitle(f"Each path relative to {base}, log scale; above 1× is faster "
                 f"({_where(run, target)})")
    return _save(plt, fig, out, f"ratio-{tag}")


def chart_fault_cost(plt, palette, run, target, out, tag):
    costs = analysis.fault_costs(run, target)
    if not costs:
        return []
    has_faults = any(f is not None for pts in costs.values() for _, _, f in pts)
    fig, axes = _grid(plt, 1, 2 if has_faults else 1, width=4.0, height=3.0, sharey=False)
    axes = axes[0]
    key = Key(palette)
    labels = palette.order(costs)
    files = [file for pts in costs.values() for file, _, _ in pts]
    for i, label in enumerate(labels):
        style = palette.style(label)
        dodge = _dodge(i, len(labels), step=0.12)
        points = [p for _, p, _ in costs[label]]
        _draw_points(axes[0], points, style, dodge=dodge, gid=_gid(label, 0))
        key.add(label)
        key.saw(points)
        if has_faults:
            faults = [(file, f) for file, _, f in costs[label] if f is not None]
            axes[1].plot([file * dodge for file, _ in faults], [f for _, f in faults],
                         color=style["color"], ls=style["ls"], marker=style["marker"], ms=5,
                         lw=1.5, gid=_gid(label, 1))
    _log2_axis(axes[0], files, "file size")
    axes[0].set_ylabel("ns per 4 KiB page")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("time per page: map, touch each page, unmap")
    if has_faults:
        _log2_axis(axes[1], files, "file size")
        axes[1].set_ylabel("minor faults per 4 KiB page (median)")
        top = max(f for pts in costs.values() for _, _, f in pts if f is not None)
        axes[1].set_ylim(0, top * 1.15 or 1)   # a flat line would sit on the frame
        axes[1].set_title("faults per page (fault-around lowers it)")
    key.draw(fig)
    fig.suptitle(f"Cost of faulting pages in, per page, vs file size ({_where(run, target)})")
    return _save(plt, fig, out, f"fault-cost-{tag}")


def chart_threads(plt, palette, run, target, out, tag):
    scaling = analysis.thread_scaling(run, target)
    if not scaling:
        return []
    files = sorted(scaling, key=lambda f: f or 0)
    fig, axes = _grid(plt, 1, len(files), width=3.8, height=2.8)
    key = Key(palette)
    for index, (ax, file) in enumerate(zip(axes[0], files)):
        labels = palette.order(scaling[file])
        for i, label in enumerate(labels):
            pts = scaling[file][label]
            _draw_points(ax, pts, palette.style(label), 1 / GIB, _dodge(i, len(labels)),
                         gid=_gid(label, index))
            key.add(label)
            key.saw(pts)
        _log2_axis(ax, [p.x for pts in scaling[file].values() for p in pts], "reader threads",
                   formatter=str)
        ax.set_ylim(bottom=0)
        ax.set_title(f"file {results.format_size(file)}, warm cache")
    axes[0][0].set_ylabel("total throughput (GiB/s)")
    key.draw(fig)
    placement = run.context("placement", "none", target=target)
    fig.suptitle(f"Scaling with reader threads, placement {placement} ({_where(run, target)})")
    return _save(plt, fig, out, f"threads-{tag}")


# How a latency chart tells the cache states apart; colour, line style and marker stay the
# series' own, as in every chart.
LATENCY_STATES = {1: ("warm cache: faint line", 0.45, 1.2), 0: ("cold cache: full line", 1.0, 1.8)}
LATENCY_TICKS = [(0.1, "p10"), (0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")]


def chart_latency(plt, palette, run, target, out, tag):
    """CDFs of the latency per request, one row per file and I/O size, one panel per family,
    warm and cold together; p50 and p99 marked with their values' 95% CIs over the rounds."""
    curves = analysis.latency_curves(run, target)
    if not curves:
        return []
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    facets = sorted(curves, key=lambda f: (f[0] or 0, f[1] or 0))
    labels_of = lambda f: {label for label, _ in curves[f]}   # noqa: E731
    columns = palette.columns({label for f in facets for label in labels_of(f)})
    fig, axes = _grid(plt, len(facets), len(columns), width=4.0, height=2.8, sharey=True)
    key = Key(palette)
    key.notes = [(None, "CDF of every repetition's requests")]
    states = set()
    most = max(c.requests for f in facets for c in curves[f].values())
    for r, facet in enumerate(facets):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            labels = palette.order(label for label in labels_of(facet)
                                   if palette.in_column(label, column))
            for label in labels:
                style = palette.style(label)
                for warm in (1, 0):
                    curve = curves[facet].get((label, warm))
                    if curve is None:
                        continue
                    states.add(warm)
                    _, alpha, width = LATENCY_STATES[warm]
                    line, = ax.plot([x for x, _ in curve.cdf], [y for _, y in curve.cdf],
                                    color=style["color"], ls=style["ls"], lw=width, alpha=alpha,
                                    zorder=2)
                    line.set_gid(_gid(f"{label} warm:{warm}", r * len(columns) + c))
                    for fraction, p in curve.marks:
                        if p.low is not None and p.high is not None and p.across_rounds:
                            ax.errorbar([p.value], [fraction], xerr=[[p.value - p.low],
                                                                     [p.high - p.value]],
                                        fmt="none", ecolor=style["color"], elinewidth=1.0,
                                        capsize=2.5, alpha=alpha, zorder=3)
                        ax.plot([p.value], [fraction], ls="none", marker=style["marker"], ms=5,
                                color=style["color"], mec=style["color"], mew=1.2,
                                mfc="white" if p.noisy else style["color"], alpha=max(alpha, 0.7),
                                zorder=4)
                    key.saw([p for _, p in curve.marks])
                key.add(label)
            if not labels:
                ax.text(0.5, 0.5, "no cells", transform=ax.transAxes, ha="center",
                        va="center", color="0.5")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(
                lambda v, _: results.format_value(v, "ns")))
            if r == len(facets) - 1:
                ax.set_xlabel("latency per request (log scale)")
            if r == 0:
                ax.set_title(FAMILY_TITLES.get(column, column), fontweight="bold")
            if c == 0:
                file, io = facet
                ax.set_ylabel(f"file {results.format_size(file)}, io {results.format_size(io)}"
                              "\nrequests at or below")
    ax = axes[0][0]
    ax.set_yscale("logit", nonpositive="clip")
    top = 1 - 0.5 / most
    ax.set_ylim(0.05, top)
    ax.yaxis.set_major_locator(FixedLocator([t for t, _ in LATENCY_TICKS if t < top]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: dict(LATENCY_TICKS).get(round(v, 3), "")))
    for warm in sorted(states, reverse=True):
        text, alpha, width = LATENCY_STATES[warm]
        key.notes.append((Line2D([], [], color="0.3", lw=width, alpha=alpha), text))
    key.notes.append((None, "marks: p50 and p99, geometric means of the rounds' medians"))
    key.draw(fig)
    timer = run.context("latency_timer_ns", None, target=target)
    overhead = f"; each holds about {timer} ns of clock reading" if timer else ""
    fig.suptitle(f"Latency per request, warm and cold, one panel per family "
                 f"({_where(run, target)}{overhead})")
    return _save(plt, fig, out, f"latency-{tag}")


def _requests(run, bench):
    """Requests in one pass over a thread's region: a read or a copy per io bytes, a touch
    per page for the paths that only fault pages in."""
    share = bench.params["file"] / bench.params.get("threads", 1)
    step = bench.params["io"] if run.traits(bench.method).get("uses_io", True) else analysis.PAGE
    return max(1, -(-share // step))


def chart_hooks(plt, palette, run, target, out, tag):
    """myfs hook calls per request as small multiples: a row per hook called 4 times a pass or
    more somewhere, a panel per family, I/O size across, a line per path (cold full, warm
    faint), at the largest file size. Exact, so drawn for emulated guests too."""
    counts = analysis.hook_counts(run, target)
    cells = [b for b in analysis.usable(run, target, "time")
             if b.name in counts and b.params.get("threads", 1) == 1 and "io" in b.params]
    if not cells:
        return []
    file = max(b.params["file"] for b in cells)
    cells = [b for b in cells if b.params["file"] == file]
    hooks = [h for h in results.hook_order([run])
             if max((counts[b.name].get(h) or 0) for b in cells) >= 4]
    if not hooks:
        return []
    labels = {analysis.series_label(b) for b in cells}
    columns = palette.columns(labels)
    fig, axes = _grid(plt, len(hooks), len(columns), height=1.7, sharey="row")
    key = Key(palette)
    states = set()
    ios = [b.params["io"] for b in cells]
    for r, hook in enumerate(hooks):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            for label in palette.order(l for l in labels if palette.in_column(l, column)):
                style = palette.style(label)
                for warm in (1, 0):
                    points = sorted((b.params["io"], (counts[b.name].get(hook) or 0) / _requests(run, b))
                                    for b in cells if analysis.series_label(b) == label
                                    and b.params.get("warm") == warm)
                    points = [(x, y) for x, y in points if y > 0]
                    if not points:
                        continue
                    states.add(warm)
                    _, alpha, width = LATENCY_STATES[warm]
                    line, = ax.plot([x for x, _ in points], [y for _, y in points],
                                    color=style["color"], ls=style["ls"], marker=style["marker"],
                                    ms=4, lw=width, alpha=alpha)
                    line.set_gid(_gid(f"{label} warm:{warm}", r * len(columns) + c))
                    key.add(label)
            ax.set_yscale("log")
            _log2_axis(ax, ios, "I/O size per request" if r == len(hooks) - 1 else "")
            if r == 0:
                ax.set_title(FAMILY_TITLES.get(column, column), fontweight="bold")
            if c == 0:
                ax.set_ylabel(f"{hook}\nper request")
    from matplotlib.lines import Line2D
    key.intervals = False   # exact counts
    for warm in sorted(states, reverse=True):
        text, alpha, width = LATENCY_STATES[warm]
        key.notes.append((Line2D([], [], color="0.3", lw=width, alpha=alpha), text))
    key.notes.append((None, "a request: one read or copy,\nor one page touched"))
    key.draw(fig)
    accel = "a TCG guest included" if run.emulated(target) else "so comparable across runs"
    fig.suptitle(f"myfs hook calls per request, file {results.format_size(file)}: exact under "
                 f"any accelerator, {accel}\n({_where(run, target)}; hooks called once a pass, "
                 "such as open and mmap, left out; every count is in the report's hook table)")
    return _save(plt, fig, out, f"hooks-{tag}")


def chart_runs(plt, palette, runs, target, out, tag):
    """Each other run's throughput relative to the first, per question and family (one
    panel each, I/O size across, a line per path), with the 95% intervals of the ratios
    over the rounds; one figure per compared run."""
    base = runs[0]
    written = []
    for other in runs[1:]:
        paths = _ratios_to(base, other, target)
        if not paths:
            continue
        facets = analysis.ordered_facets(paths)
        key = Key(palette)
        ios = [p.x for f in facets for pts in paths[f].values() for p in pts]

        def panel(ax, facet, labels, index, paths=paths, key=key, ios=ios):
            for i, label in enumerate(labels):
                points = paths[facet][label]
                _draw_points(ax, points, palette.style(label), dodge=_dodge(i, len(labels)),
                             gid=_gid(label, index))
                key.add(label)
                key.saw(points)
            ax.axhline(1.0, color="black", lw=0.9, ls="--", zorder=1)
            _log2_axis(ax, ios, "I/O size per request")

        fig, axes = _family_panels(plt, palette, facets, lambda f, paths=paths: paths[f], panel,
                                   f"÷ {base.label}")
        for row in axes:
            _ratio_axis(row[0])
        key.intervals = False   # ratios: their own note
        key.notes = [(None, f"throughput of {other.label} ÷ {base.label}"),
                     (_ci_handle(), "point: ratio over the rounds, bar: its 95% CI")]
        key.draw(fig)
        emulated = base.emulated(target) or other.emulated(target)
        where = target + (" — emulated (TCG): a ratio of the same cell still holds"
                          if emulated else "")
        fig.suptitle(f"{other.label} against {base.label} on {where}")
        written.append(_save(plt, fig, out, tag if len(runs) == 2 else f"{tag}-{other.label}"))
    return written


def _ratios_to(base, other, target):
    """{(file, warm): {label: [Point of other's bytes/s ÷ base's, with its interval]}} over
    the single-thread cells both runs have (compare's ratio on the rounds)."""
    metric = results.BYTES_PER_SECOND
    pair = compare.paired(base, other)
    out = {}
    for bench in analysis.usable(base, target):
        mine = other.benchmarks.get(bench.key)
        if mine is None or mine.skipped or not mine.values(metric.key) or \
                "io" not in bench.params or bench.params.get("threads", 1) != 1:
            continue
        if base.traits(bench.method).get("delivers") == "touch":
            continue   # fault-only paths: a page, not a read; their cost is the fault chart's
        d = compare.timing_delta(metric, bench, mine, pair)
        if d is None:
            continue
        facet = (bench.params.get("file"), bench.params.get("warm", 1))
        noisy = max(b.estimate(metric).spread or 0 for b in (bench, mine))
        out.setdefault(facet, {}).setdefault(analysis.series_label(bench), []).append(
            analysis.Point(bench.params["io"], d.ratio, d.low, d.high, noisy))
    for series in out.values():
        for points in series.values():
            points.sort(key=lambda p: p.x)
    return out


def _tag(run, target, many):
    return f"{target}-{run.label}" if many else target


def draw(runs, out):
    """Draw every chart the data allows; returns [[png, svg], ...]."""
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    palette = Palette(runs)
    written = []
    many = len(runs) > 1
    for run in runs:
        for target in run.targets():
            tag = _tag(run, target, many)
            charts = [chart_hooks] if run.emulated(target) else \
                [chart_throughput, chart_ratio, chart_fault_cost, chart_threads, chart_latency,
                 chart_hooks]
            for chart in charts:
                paths = chart(plt, palette, run, target, out, tag)
                if paths:
                    written.append(paths)
    if many:
        for target in runs[0].targets():
            written += chart_runs(plt, palette, runs, target, out, f"runs-{target}")
    return written
