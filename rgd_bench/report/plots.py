"""The HTML report's figures, drawn with matplotlib and returned as inline SVG.

matplotlib is optional (``rgd_bench[plots]``), so it is imported only when a figure is
drawn.  No pyplot: figures are plain ``Figure`` objects, so drawing changes no global
state.  The SVG is made reproducible (fixed hash salt, no date) so that regenerating a
report gives identical bytes, and each figure gets its own salt so that the ids of
clip paths and markers stay unique when many figures share one page.

An algorithm has one color in every figure of a report (``algorithm_colors`` over
``Report.algorithms``, passed to every function here); a hyperparameter has one axis in
every algorithm's sensitivity figure of a dataset (``axes.py``).  A figure with nothing to
draw is None, never an empty axis: the page says so in a sentence.
"""
from __future__ import annotations

import collections
import contextlib
import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from rgd_bench.report.axes import HparamAxis, hparam_axes, tick_text, varying_hparams
from rgd_bench.report.formats.escape import visible
from rgd_bench.report.leaderboard import Leaderboard
from rgd_bench.report.records import Run
from rgd_bench.report.metric_tables import MetricLeaderboard, MetricTable, Spread, metric_scale
from rgd_bench.report.wilds import early_stopping_choice

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = "the HTML report draws plots with matplotlib: pip install 'rgd_bench[plots]'"
RC = {"svg.fonttype": "none", "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "axes.spines.top": False,
      "axes.spines.right": False}
# tab10, then tab20's lighter shades: 20 algorithms before a color repeats.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
           "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
MARKERS = "os^Dv<>PX*"  # sensitivity points: one marker per test environment
MAX_COLUMNS = 4        # panels per row in the curve and sensitivity figures
MAX_HPARAMS = 16       # sensitivity panels per algorithm; the rest are named in the caption
FEW_VALUES = 8         # at most this many distinct values: also draw the mean per value


@dataclass(frozen=True)
class Plot:
    """One figure of the page, with the caption that says how to read it."""

    kind: str            # "bars", "curves", "sensitivity", "tradeoff" or "groups"
    dataset: str
    caption: str
    svg: str
    method: str = ""     # the selection method's key (bars, curves)
    algorithm: str = ""  # sensitivity plots: the algorithm


def _matplotlib() -> tuple[Any, Any]:
    """matplotlib and its Figure class, imported on first use (an optional dependency)."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(MISSING) from None
    return matplotlib, Figure


@contextlib.contextmanager
def _style(salt: str | None = None) -> Iterator[None]:
    rc = dict(RC, **({"svg.hashsalt": salt} if salt is not None else {}))
    with _matplotlib()[0].rc_context(rc):
        yield


def to_svg(figure: "Figure", name: str) -> str:
    """The figure as an ``<svg>`` element: no XML prolog or metadata, and only the ids that
    something refers to, salted with ``name`` (unique on the page)."""
    buffer = io.StringIO()
    with _style(f"rgd_bench:{name}"):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    used = set(re.findall(r'#([^")\s]+)[")]', text))
    return re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in used else "", text).strip()


def _label(text: str) -> str:
    """Text shown literally: control characters as their escapes (``escape.visible``: raw
    ones would make the SVG invalid XML, a lone surrogate would crash matplotlib), and a '$'
    escaped, which would otherwise start matplotlib's mathtext."""
    return visible(text).replace("$", r"\$")


def algorithm_colors(algorithms: list[str]) -> dict[str, str]:
    """The one color of each algorithm in every figure of a report, by its place in
    ``algorithms`` (the report's, ``Report.algorithms``).  Its order is the figures' too."""
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(algorithms)}


# Layout in inches, fixed rather than computed by matplotlib's constrained layout, which
# doubles the time to draw a figure.  Sized for 7-8 pt text.
LEFT, RIGHT, BOTTOM, TOP, TITLE = 0.6, 0.15, 0.45, 0.3, 0.25
GAP_W, GAP_H = 0.45, 0.7                 # between panels: tick labels, then x label and title
LEGEND_ROW, LEGEND_CHAR, LEGEND_KEY = 0.16, 0.055, 0.45


def _legend_shape(labels: list[str], height: float) -> tuple[int, float]:
    """(columns, width in inches) of a legend of ``labels`` that fits ``height``."""
    if not labels:
        return 0, 0.0
    columns = math.ceil(len(labels) / max(1, int(height / LEGEND_ROW)))
    return columns, columns * (LEGEND_KEY + LEGEND_CHAR * max(len(label) for label in labels))


def _in_color_order(algorithms: Any, colors: dict[str, str]) -> list[str]:
    """``algorithms`` in the report's order (that of ``colors``, which must hold each of them)."""
    order = list(colors)
    return sorted(set(algorithms), key=order.index)


def panels(n: int, panel: tuple[float, float], legend: list[str], title: bool = False) -> tuple["Figure", list]:
    """A figure of ``n`` panels (rows of at most MAX_COLUMNS), each ``panel`` inches, with
    room on the right for a legend of ``legend``; extra grid cells are hidden."""
    cols = min(MAX_COLUMNS, n)
    rows = math.ceil(n / cols)
    top = TOP + (TITLE if title else 0.0)
    plot_w, plot_h = cols * panel[0] + (cols - 1) * GAP_W, rows * panel[1] + (rows - 1) * GAP_H
    height = top + plot_h + BOTTOM
    _, legend_w = _legend_shape(legend, plot_h)
    width = LEFT + plot_w + RIGHT + legend_w
    figure = _matplotlib()[1](figsize=(width, height))
    figure.subplots_adjust(left=LEFT / width, right=(LEFT + plot_w) / width, bottom=BOTTOM / height,
                           top=1 - top / height, wspace=GAP_W / panel[0], hspace=GAP_H / panel[1])
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return figure, list(axes[:n])


def _legend(figure: "Figure", labels: list[str]) -> None:
    """The legend in the room ``panels`` left for it, right of the panels' top."""
    params = figure.subplotpars
    height = figure.get_figheight() * (params.top - params.bottom)
    columns, _ = _legend_shape(labels, height)
    if columns and any(ax.get_legend_handles_labels()[1] for ax in figure.axes):
        figure.legend(loc="upper left", bbox_to_anchor=(params.right + RIGHT / figure.get_figwidth(), params.top),
                      ncols=columns, frameon=False, borderaxespad=0, handlelength=1.5)


# --- bars: the leaderboards' cells ---------------------------------------------------------

@dataclass(frozen=True)
class BarPanel:
    """Grouped bars: a group per x label, a bar per algorithm at its cell's mean, +/- its error."""

    title: str
    groups: list[str]
    cells: dict[str, list[Any]]  # algorithm -> per group a Cell or Spread (.mean, .error), or None
    ylabel: str
    percent: bool = True         # an accuracy in %: the y-axis starts at a round number below the bars


def _bars_figure(bar_panels: list[BarPanel], colors: dict[str, str], title: str, xlabel: str,
                 size: tuple[float, float]) -> "Figure | None":
    """One panel per BarPanel that has a bar; None when none has (the page says so instead)."""
    bar_panels = [p for p in bar_panels if any(c is not None for cells in p.cells.values() for c in cells)]
    if not bar_panels:
        return None
    with _style():
        shown = _in_color_order((a for p in bar_panels for a, cells in p.cells.items()
                                 if any(c is not None for c in cells)), colors)
        figure, axes = panels(len(bar_panels), size, shown, title=len(bar_panels) > 1)
        width = 0.8 / len(shown)
        labelled = set()
        for panel, ax in zip(bar_panels, axes):
            lows = []
            for k, algorithm in enumerate(shown):
                cells = panel.cells.get(algorithm, [])
                present = [(g, c) for g, c in enumerate(cells) if c is not None]
                if not present:
                    continue
                errors = [c.error or 0.0 for _, c in present]  # one replicate: no error bar
                ax.bar([g + (k + 0.5) * width - 0.4 for g, _ in present], [c.mean for _, c in present], width,
                       yerr=errors, color=colors[algorithm], error_kw={"elinewidth": 0.8}, capsize=1.5,
                       label=None if algorithm in labelled else _label(algorithm))
                labelled.add(algorithm)
                lows += [c.mean - e for (_, c), e in zip(present, errors)]
            if panel.percent:
                ax.set_ylim(bottom=max(0.0, 10 * math.floor((min(lows) - 5) / 10)))
            if panel.groups == [""]:
                ax.set_xticks([])  # one unnamed group: the panel's title names it
            else:
                ax.set_xticks(range(len(panel.groups)), [_label(g) for g in panel.groups])
            ax.set_xlabel(xlabel)
            ax.set_ylabel(_label(panel.ylabel))
            ax.set_title(_label(panel.title if len(bar_panels) > 1 else title))
        if len(bar_panels) > 1:
            figure.suptitle(_label(title), fontsize=9)
        _legend(figure, shown)
    return figure


def bars_figure(board: Leaderboard, index: int, colors: dict[str, str]) -> "Figure | None":
    """Grouped bars of ``board.tables[index]``: one group per test environment, then Avg
    (the Averages table's cell for the dataset); one bar per algorithm, +/- standard error.
    None when the method chose nothing for the dataset."""
    table = board.tables[index]
    cells = {a: [*table.cells[a], board.averages.cells[a][index]] for a in board.algorithms}
    panel = BarPanel(table.dataset, [*table.environments, "Avg"], cells, "test accuracy (%)")
    return _bars_figure([panel], colors, f"{table.dataset}: {board.method.name}", "test environment", (4.6, 2.8))


def _as_plot(kind: str, figure: "Figure | None", dataset: str, method: str, caption: str, svg_id: str) -> Plot | None:
    """The figure as a Plot of the page; None (a sentence there, not an empty axis) without one."""
    if figure is None:
        return None
    return Plot(kind, dataset, caption, to_svg(figure, svg_id), method=method)


def bars_plot(board: Leaderboard, index: int, colors: dict[str, str]) -> Plot | None:
    table = board.tables[index]
    caption = (f"{table.dataset}, {board.method.name}: selected test-domain accuracy per test environment "
               "(mean ± standard error over trial seeds; Avg as in the Averages table). "
               "Missing bars: no result. The y-axis does not start at 0.")
    return _as_plot("bars", bars_figure(board, index, colors), table.dataset, board.method.key, caption,
                    f"bars:{board.method.key}:{table.dataset}")


def metric_bars_figure(board: MetricLeaderboard, index: int, colors: dict[str, str]) -> "Figure | None":
    """One panel per column of ``board.tables[index]`` ((split, metric)), one bar per
    algorithm, +/- std over replicates.  None when no algorithm has a result."""
    table = board.tables[index]
    bar_panels = [BarPanel(f"{split} {metric}", [""], {a: [table.cells[a][c]] for a in board.algorithms},
                           f"{metric} (%)" if metric_scale(metric) == 100 else metric, metric_scale(metric) == 100)
                  for c, (split, metric) in enumerate(table.columns)]
    return _bars_figure(bar_panels, colors, f"{table.dataset}: {board.name}", "", (1.9, 2.2))


def metric_bars_plot(board: MetricLeaderboard, index: int, colors: dict[str, str]) -> Plot | None:
    table = board.tables[index]
    caption = (f"{table.dataset}, {board.name}: each test metric at the selected checkpoints (mean ± standard "
               "deviation over replicates, as the table). Missing bars: no result. Accuracy axes do not start at 0.")
    return _as_plot("bars", metric_bars_figure(board, index, colors), table.dataset, board.key, caption,
                    f"bars:{board.key}:{table.dataset}")


# --- the subpopulation protocol: worst-group against average accuracy, per-group bars -------

def tradeoff_figure(board: MetricLeaderboard, index: int, colors: dict[str, str]) -> "Figure | None":
    """Each algorithm at (test average accuracy, test worst-group accuracy) of the chosen
    checkpoints, mean +/- std over trial seeds.  None when no algorithm has both."""
    table = board.tables[index]
    columns = {metric: c for c, (_, metric) in enumerate(table.columns)}
    if "avg_acc" not in columns or "worst_group_acc" not in columns:
        return None
    points = {a: (table.cells[a][columns["avg_acc"]], table.cells[a][columns["worst_group_acc"]])
              for a in board.algorithms}
    points = {a: xy for a, xy in points.items() if None not in xy}
    if not points:
        return None
    with _style():
        shown = _in_color_order(points, colors)
        figure, (ax,) = panels(1, (3.2, 2.6), shown)
        for algorithm in shown:
            x, y = points[algorithm]
            ax.errorbar([x.mean], [y.mean], xerr=[x.error or 0.0], yerr=[y.error or 0.0], fmt="o",
                        color=colors[algorithm], markersize=4, elinewidth=0.8, capsize=1.5, label=_label(algorithm))
        ax.set_xlabel("test average accuracy (%)")
        ax.set_ylabel("test worst-group accuracy (%)")
        ax.set_title(_label(f"{table.dataset}: {board.name}"))
        _legend(figure, shown)
    return figure


def tradeoff_plot(board: MetricLeaderboard, index: int, colors: dict[str, str]) -> Plot | None:
    table = board.tables[index]
    caption = (f"{table.dataset}, {board.name}: each algorithm's test worst-group accuracy against its average "
               "accuracy at the selected checkpoints (mean ± standard deviation over trial seeds). Up is more "
               "robust; a method above and right of another is better on both.")
    return _as_plot("tradeoff", tradeoff_figure(board, index, colors), table.dataset, board.key, caption,
                    f"tradeoff:{board.key}:{table.dataset}")


def group_bars_figure(board: MetricLeaderboard, index: int, groups: dict[str, dict[str, list[float]]],
                      colors: dict[str, str]) -> "Figure | None":
    """One group of bars per test group (``y<label> a<attribute>``), a bar per algorithm at its
    accuracy there (mean +/- std over trial seeds).  ``groups``: ``subpopulation.group_accuracies``."""
    keys = sorted({key for by_group in groups.values() for key in by_group},
                  key=lambda key: tuple(int(n) for n in re.findall(r"\d+", key)))
    cells = {a: [Spread(tuple(groups[a][key])) if groups.get(a, {}).get(key) else None for key in keys]
             for a in board.algorithms}
    panel = BarPanel(board.tables[index].dataset, [key.replace("acc_", "").replace("_", " ") for key in keys],
                     cells, "test accuracy (%)")
    return _bars_figure([panel], colors, f"{board.tables[index].dataset}: {board.name}", "group (label y, attribute a)",
                        (max(3.0, 0.5 * len(keys) * max(1, len(cells)) ** 0.5), 2.6))


def group_bars_plot(board: MetricLeaderboard, index: int, groups: dict[str, dict[str, list[float]]],
                    colors: dict[str, str]) -> Plot | None:
    table = board.tables[index]
    caption = (f"{table.dataset}, {board.name}: test accuracy of each label x attribute group at the selected "
               "checkpoints (mean ± standard deviation over trial seeds); the lowest bar of an algorithm is its "
               "worst-group accuracy. The y-axis does not start at 0.")
    return _as_plot("groups", group_bars_figure(board, index, groups, colors), table.dataset, board.key, caption,
                    f"groups:{board.key}:{table.dataset}")


# --- curves: a test metric against step or epoch, of the chosen runs ---------------------

@dataclass(frozen=True)
class CurvePanel:
    """Lines (algorithm -> x and mean y) and dots (algorithm -> the chosen checkpoints)."""

    title: str
    lines: dict[str, tuple[list[float], list[float]]]
    dots: dict[str, list[tuple[float, float]]]
    ylabel: str


def mean_curve(runs: list[Run], key: str, x_key: str = "step", scale: float = 100.0) -> tuple[list, list]:
    """Per checkpoint (the k-th of each run that has one with a finite ``key``), the mean of
    ``x_key`` and of ``key`` times ``scale``.  By position, not by value: replicates drew
    their own batch sizes, so their k-th evaluations fall at different epochs."""
    by_k: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
    for run in runs:
        for k, (x, value) in enumerate(zip(run.columns[x_key], run.columns[key])):
            if math.isfinite(value):
                by_k[k].append((x, scale * value))
    points = [by_k[k] for k in sorted(by_k)]
    return ([sum(x for x, _ in p) / len(p) for p in points], [sum(y for _, y in p) / len(p) for p in points])


def _curves_figure(curve_panels: list[CurvePanel], colors: dict[str, str], xlabel: str) -> "Figure | None":
    curve_panels = [p for p in curve_panels if p.lines]
    if not curve_panels:
        return None
    with _style():
        shown = _in_color_order((a for p in curve_panels for a in p.lines), colors)
        figure, axes = panels(len(curve_panels), (1.9, 1.5), shown)
        labelled = set()
        for i, (panel, ax) in enumerate(zip(curve_panels, axes)):
            for algorithm in shown:
                if algorithm not in panel.lines:
                    continue
                xs, ys = panel.lines[algorithm]
                ax.plot(xs, ys, color=colors[algorithm], linewidth=1.2,
                        label=None if algorithm in labelled else _label(algorithm))
                labelled.add(algorithm)
                dots = panel.dots.get(algorithm, [])
                ax.plot([x for x, _ in dots], [y for _, y in dots], "o", color=colors[algorithm], markersize=3)
            ax.set_title(_label(panel.title))
            ax.set_xlabel(xlabel)
            if i % MAX_COLUMNS == 0 or panel.ylabel != curve_panels[i - 1].ylabel:
                ax.set_ylabel(_label(panel.ylabel))
        _legend(figure, shown)
    return figure


def curves_figure(board: Leaderboard, index: int, colors: dict[str, str]) -> "Figure | None":
    """One panel per test environment with a choice, one line per algorithm: the test
    environment's in-split accuracy against step, averaged over the trial seeds' chosen runs;
    dots mark the chosen checkpoints.  None when the method chose nothing for this dataset."""
    table = board.tables[index]
    curve_panels = []
    for env, name in enumerate(table.environments):
        lines, dots = {}, {}
        for algorithm in board.algorithms:
            picks = [c for (_, d, a, e), c in board.choices.items() if d == table.dataset and a == algorithm
                     and e == env]
            if picks:
                runs = list({id(c.run): c.run for c in picks}.values())
                lines[algorithm] = mean_curve(runs, f"env{env}_in_acc")
                dots[algorithm] = [(c.step, 100 * c.test_acc) for c in picks]
        curve_panels.append(CurvePanel(f"test env {name}", lines, dots, "test accuracy (%)"))
    return _curves_figure(curve_panels, colors, "step")


def curves_plot(board: Leaderboard, index: int, colors: dict[str, str]) -> Plot | None:
    table = board.tables[index]
    caption = (f"{table.dataset}: test-environment in-split accuracy against step, per test environment, "
               f"of the runs chosen by {board.method.name} (averaged over trial seeds, checkpoint by checkpoint); "
               "dots mark the chosen checkpoints. A test environment with no choice has no panel.")
    return _as_plot("curves", curves_figure(board, index, colors), table.dataset, board.method.key, caption,
                    f"curves:{table.dataset}")


def wilds_curves_figure(board: MetricLeaderboard, index: int, colors: dict[str, str]) -> "Figure | None":
    """One panel per column of the table: the metric against epoch (step where a run recorded
    no epoch), averaged over the replicates' chosen runs; dots mark the chosen checkpoints."""
    table = board.tables[index]
    chosen = [(key[2], c) for key, c in board.choices.items() if key[1] == table.dataset]
    x_key = "epoch" if all("epoch" in c.run.columns for _, c in chosen) else "step"
    curve_panels = []
    for split, metric in table.columns:
        key, scale = f"{split}_{metric}", metric_scale(metric)
        lines, dots = {}, {}
        for algorithm in board.algorithms:
            picks = [c for a, c in chosen if a == algorithm and key in c.run.columns]
            if picks:
                lines[algorithm] = mean_curve([c.run for c in picks], key, x_key, scale)
                dots[algorithm] = [(c.run.columns[x_key][c.index], scale * c.run.columns[key][c.index])
                                   for c in picks]
        curve_panels.append(CurvePanel(f"{split} {metric}", lines, dots, "%" if scale == 100 else metric))
    return _curves_figure(curve_panels, colors, x_key)


def wilds_curves_plot(board: MetricLeaderboard, index: int, colors: dict[str, str]) -> Plot | None:
    table = board.tables[index]
    caption = (f"{table.dataset}: each test metric against epoch of the runs chosen by {board.name} (averaged "
               "over replicates); dots mark the checkpoints early stopping chose.")
    return _as_plot("curves", wilds_curves_figure(board, index, colors), table.dataset, board.key, caption,
                    f"curves:{board.key}:{table.dataset}")


# --- sensitivity: a test result of each run against each hyperparameter -----------------

Point = tuple  # (run, y, group): the run, its result, the marker's group (a test environment)


def final_test_accs(runs: list[Run]) -> list[tuple[Run, float]]:
    """(run, last checkpoint's test in-split accuracy in %) of the single-test-env runs."""
    out = []
    for run in runs:
        column = run.columns.get(f"env{run.test_envs[0]}_in_acc") if len(run.test_envs) == 1 else None
        if column and math.isfinite(column[-1]):
            out.append((run, 100 * column[-1]))
    return out


def _draw_hparam_axis(ax: Any, axis: HparamAxis) -> None:
    ticker = _matplotlib()[0].ticker
    if axis.categories:
        ax.set_xticks(range(len(axis.categories)), [_label(c) for c in axis.categories])
    elif axis.log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.FixedLocator(axis.ticks()))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: tick_text(value)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
    ax.set_xlim(*axis.limits)


def sensitivity_figure(points: list[Point], axes: list[HparamAxis], algorithm: str, color: str,
                       ylabel: str) -> "Figure":
    """One panel per hyperparameter: each run's value against its result, in the algorithm's
    color, a marker per group, with the mean per value when a value has several runs."""
    with _style():
        groups = list(dict.fromkeys(group for _, _, group in points))  # in the points' order
        markers = {g: MARKERS[i % len(MARKERS)] for i, g in enumerate(groups)}
        legend = [g for g in groups if g] + ["mean"]
        figure, panes = panels(len(axes), (1.9, 1.5), legend, title=True)
        labelled = set()
        for i, (axis, ax) in enumerate(zip(axes, panes)):
            xs = [axis.position(run.hparams[axis.name]) for run, _, _ in points]
            for group in groups:
                sel = [(x, y) for x, (_, y, g) in zip(xs, points) if g == group]
                ax.scatter([x for x, _ in sel], [y for _, y in sel], s=9, alpha=0.75, color=color,
                           marker=markers[group], linewidths=0, label=_label(group) if i == 0 and group else None)
            distinct = sorted(set(xs))
            if len(distinct) <= FEW_VALUES and len(distinct) < len(xs):
                means = [sum(y for x, (_, y, _) in zip(xs, points) if x == v) / xs.count(v) for v in distinct]
                ax.plot(distinct, means, "_", color="black", markersize=9, markeredgewidth=1.5,
                        label=None if "mean" in labelled else "mean")
                labelled.add("mean")
            _draw_hparam_axis(ax, axis)
            ax.set_title(_label(axis.name))
            if i % MAX_COLUMNS == 0:
                ax.set_ylabel(_label(ylabel))
        figure.suptitle(_label(algorithm), fontsize=9)
        _legend(figure, legend)
    return figure


def _sensitivity_plots(points: list[Point], dataset: str, colors: dict[str, str], ylabel: str,
                       caption: str) -> list[Plot]:
    """One figure per algorithm with a varying hyperparameter; every hyperparameter on the
    same axis in each (decided from all the points' runs)."""
    axes = hparam_axes(run.hparams for run, _, _ in points)
    plots = []
    for algorithm in _in_color_order((run.algorithm for run, _, _ in points), colors):
        mine = [p for p in points if p[0].algorithm == algorithm]
        hparams = varying_hparams([run.hparams for run, _, _ in mine])
        if not hparams:
            continue
        shown, left = hparams[:MAX_HPARAMS], hparams[MAX_HPARAMS:]
        text = f"{dataset}, {algorithm}: {caption} {len(mine)} runs."
        if left:
            text += f" Not shown: {', '.join(left)}."
        figure = sensitivity_figure(mine, [axes[name] for name in shown], algorithm, colors[algorithm], ylabel)
        plots.append(Plot("sensitivity", dataset, text, to_svg(figure, f"sensitivity:{dataset}:{algorithm}"),
                          algorithm=algorithm))
    return plots


def sensitivity_plots(runs: list[Run], dataset: str, colors: dict[str, str], environments: list[str]) -> list[Plot]:
    """DomainBed runs of ``dataset``: final test accuracy, a marker per test environment."""
    finals = sorted(final_test_accs([r for r in runs if r.dataset == dataset]), key=lambda p: p[0].test_envs[0])
    points = [(run, y, environments[run.test_envs[0]] if run.test_envs[0] < len(environments)
               else f"env{run.test_envs[0]}") for run, y in finals]
    caption = ("final test-environment in-split accuracy (last checkpoint) of each single-test-environment run "
               "against each hyperparameter that varies, on the same axis for every algorithm; markers: test "
               "environment; black: mean per value.")
    return _sensitivity_plots(points, dataset, colors, "final test acc (%)", caption)


def wilds_sensitivity_plots(runs: list[Run], table: MetricTable, colors: dict[str, str]) -> list[Plot]:
    """WILDS runs of the table's dataset: the first column's metric at each run's own
    early-stopping checkpoint (the checkpoint selection would take for it)."""
    if not table.columns:
        return []  # the runs recorded no test metric
    split, metric = table.columns[0]
    points = []
    for run in runs:
        choice = early_stopping_choice(run) if run.dataset == table.dataset else None
        if choice is not None and f"{split}_{metric}" in run.columns:
            points.append((run, metric_scale(metric) * run.columns[f"{split}_{metric}"][choice.index], ""))
    caption = (f"{split} {metric} of each run at its early-stopping checkpoint (best {table.val_metric} on val) "
               "against each hyperparameter that varies, on the same axis for every algorithm; black: mean per value.")
    return _sensitivity_plots(points, table.dataset, colors, f"{split} {metric}", caption)
