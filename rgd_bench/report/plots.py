"""The HTML report's figures, drawn with matplotlib and returned as inline SVG.

matplotlib is optional (``rgd_bench[plots]``), so it is imported only when a figure is
drawn.  No pyplot: figures are plain ``Figure`` objects, so drawing changes no global
state.  The SVG is made reproducible (fixed hash salt, no date) so that regenerating a
report gives identical bytes, and each figure gets its own salt so that the ids of
clip paths and markers stay unique when many figures share one page.
"""
from __future__ import annotations

import collections
import contextlib
import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from rgd_bench.report.formats.escape import visible
from rgd_bench.report.leaderboard import Leaderboard
from rgd_bench.report.records import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = "the HTML report draws plots with matplotlib: pip install 'rgd_bench[plots]'"
RC = {"svg.fonttype": "none", "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "axes.spines.top": False,
      "axes.spines.right": False}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
MAX_COLUMNS = 4        # panels per row in the curve and sensitivity figures
MAX_HPARAMS = 16       # sensitivity panels per algorithm; the rest are named in the caption
FEW_VALUES = 8         # at most this many distinct values: also draw the mean per value
LOG_RATIO = 20         # log x-axis when all values are positive and max/min exceeds this


@dataclass(frozen=True)
class Plot:
    """One figure of the page, with the caption that says how to read it."""

    kind: str            # "bars", "curves" or "sensitivity"
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


def _colors(algorithms: list[str]) -> dict[str, str]:
    """One color per algorithm, the same in every figure of a report."""
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
    if columns:
        figure.legend(loc="upper left", bbox_to_anchor=(params.right + RIGHT / figure.get_figwidth(), params.top),
                      ncols=columns, frameon=False, borderaxespad=0, handlelength=1.5)


# --- bars: the leaderboard's cells ---------------------------------------------------------

def bars_figure(board: Leaderboard, index: int) -> "Figure":
    """Grouped bars of ``board.tables[index]``: one group per test environment, then Avg
    (the Averages table's cell for the dataset); one bar per algorithm, +/- standard error."""
    with _style():
        table = board.tables[index]
        groups = [*table.environments, "Avg"]
        figure, (ax,) = panels(1, (4.6, 2.8), board.algorithms)
        colors = _colors(board.algorithms)
        width = 0.8 / max(1, len(board.algorithms))
        lows = []
        for k, algorithm in enumerate(board.algorithms):
            cells = [*table.cells[algorithm], board.averages.cells[algorithm][index]]
            xs = [g + (k + 0.5) * width - 0.4 for g, c in enumerate(cells) if c is not None]
            present = [c for c in cells if c is not None]
            ax.bar(xs, [c.mean for c in present], width, yerr=[c.error for c in present],
                   color=colors[algorithm], label=_label(algorithm), error_kw={"elinewidth": 0.8}, capsize=1.5)
            lows += [c.mean - c.error for c in present]
        if lows:
            ax.set_ylim(bottom=max(0.0, 10 * math.floor((min(lows) - 5) / 10)))
        ax.set_xticks(range(len(groups)), [_label(g) for g in groups])
        ax.set_xlabel("test environment")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(_label(f"{table.dataset}: {board.method.name}"))
        _legend(figure, board.algorithms)
    return figure


def bars_plot(board: Leaderboard, index: int) -> Plot:
    table = board.tables[index]
    caption = (f"{table.dataset}, {board.method.name}: selected test-domain accuracy per test environment "
               "(mean ± standard error over trial seeds; Avg as in the Averages table). "
               "Missing bars: no result. The y-axis does not start at 0.")
    svg = to_svg(bars_figure(board, index), f"bars:{board.method.key}:{table.dataset}")
    return Plot("bars", table.dataset, caption, svg, method=board.method.key)


# --- curves: test accuracy against step of the chosen runs -------------------------------

def mean_curve(runs: list[Run], key: str) -> tuple[list[float], list[float]]:
    """Steps and the mean of ``key`` (in %) over the runs that recorded each step."""
    by_step: dict[float, list[float]] = collections.defaultdict(list)
    for run in runs:
        for step, value in zip(run.steps, run.columns[key]):
            if math.isfinite(value):
                by_step[step].append(100 * value)
    steps = sorted(by_step)
    return steps, [sum(by_step[s]) / len(by_step[s]) for s in steps]


def curves_figure(board: Leaderboard, index: int) -> "Figure | None":
    """One panel per test environment, one line per algorithm: the test environment's
    in-split accuracy against step, averaged over the trial seeds' chosen runs; dots mark
    the chosen checkpoints.  None when the method chose nothing for this dataset."""
    table = board.tables[index]
    chosen = [(key, c) for key, c in board.choices.items() if key[1] == table.dataset]
    if not chosen:
        return None
    with _style():
        shown = [a for a in board.algorithms if any(key[2] == a for key, _ in chosen)]
        figure, axes = panels(len(table.environments), (1.9, 1.5), shown)
        colors = _colors(board.algorithms)
        for env, ax in enumerate(axes):
            for algorithm in board.algorithms:
                picks = [c for (_, _, a, e), c in chosen if a == algorithm and e == env]
                if not picks:
                    continue
                runs = list({id(c.run): c.run for c in picks}.values())
                steps, accs = mean_curve(runs, f"env{env}_in_acc")
                ax.plot(steps, accs, color=colors[algorithm], linewidth=1.2,
                        label=_label(algorithm) if env == 0 else None)
                ax.plot([c.step for c in picks], [100 * c.test_acc for c in picks], "o",
                        color=colors[algorithm], markersize=3)
            ax.set_title(_label(f"test env {table.environments[env]}"))
            ax.set_xlabel("step")
            if env % MAX_COLUMNS == 0:
                ax.set_ylabel("test accuracy (%)")
        _legend(figure, shown)
    return figure


def curves_plot(board: Leaderboard, index: int) -> Plot | None:
    table = board.tables[index]
    figure = curves_figure(board, index)
    if figure is None:
        return None
    caption = (f"{table.dataset}: test-environment in-split accuracy against step, per test environment, "
               f"of the runs chosen by {board.method.name} (averaged over trial seeds at equal steps); "
               "dots mark the chosen checkpoints.")
    return Plot("curves", table.dataset, caption, to_svg(figure, f"curves:{table.dataset}"),
                method=board.method.key)


# --- sensitivity: final test accuracy against each hyperparameter -------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def varying_hparams(runs: list[Run]) -> list[str]:
    """Hyperparameters that are numbers (not booleans) in every run and take two values or more."""
    names = sorted({name for run in runs for name in run.hparams})
    varying = []
    for name in names:
        values = [_number(run.hparams.get(name)) for run in runs]
        if None not in values and len(set(values)) > 1:
            varying.append(name)
    return varying


def final_test_accs(runs: list[Run]) -> list[tuple[Run, float]]:
    """(run, last checkpoint's test in-split accuracy in %) of the single-test-env runs."""
    out = []
    for run in runs:
        column = run.columns.get(f"env{run.test_envs[0]}_in_acc") if len(run.test_envs) == 1 else None
        if column and math.isfinite(column[-1]):
            out.append((run, 100 * column[-1]))
    return out


def sensitivity_figure(points: list[tuple[Run, float]], hparams: list[str], algorithm: str,
                       environments: list[str]) -> "Figure":
    """One panel per hyperparameter: value against final test accuracy, colored by test
    environment, with the mean per value when there are few distinct values."""
    with _style():
        envs = sorted({run.test_envs[0] for run, _ in points})
        names = [environments[e] if e < len(environments) else f"env{e}" for e in envs]
        figure, axes = panels(len(hparams), (1.9, 1.5), names + ["mean"], title=True)
        for i, (name, ax) in enumerate(zip(hparams, axes)):
            xs = [float(run.hparams[name]) for run, _ in points]
            for env in envs:
                sel = [(x, y) for x, (run, y) in zip(xs, points) if run.test_envs[0] == env]
                ax.scatter([x for x, _ in sel], [y for _, y in sel], s=9, alpha=0.75,
                           color=PALETTE[env % len(PALETTE)], linewidths=0,
                           label=_label(names[envs.index(env)]) if i == 0 else None)
            distinct = sorted(set(xs))
            if len(distinct) <= FEW_VALUES and len(distinct) < len(xs):
                means = [sum(y for x, (_, y) in zip(xs, points) if x == v) / xs.count(v) for v in distinct]
                ax.plot(distinct, means, "_", color="black", markersize=9, markeredgewidth=1.5,
                        label="mean" if i == 0 else None)
            if min(distinct) > 0 and max(distinct) / min(distinct) > LOG_RATIO:
                ax.set_xscale("log")
            ax.set_title(_label(name))
            if i % MAX_COLUMNS == 0:
                ax.set_ylabel("final test acc (%)")
        figure.suptitle(_label(algorithm), fontsize=9)
        _legend(figure, names + ["mean"])
    return figure


def sensitivity_plots(runs: list[Run], dataset: str, algorithms: list[str],
                      environments: list[str]) -> list[Plot]:
    """One figure per algorithm of ``dataset`` with a varying numeric hyperparameter."""
    plots = []
    for algorithm in algorithms:
        points = final_test_accs([r for r in runs if r.dataset == dataset and r.algorithm == algorithm])
        hparams = varying_hparams([run for run, _ in points])
        if not hparams:
            continue
        shown, left = hparams[:MAX_HPARAMS], hparams[MAX_HPARAMS:]
        caption = (f"{dataset}, {algorithm}: final test-environment in-split accuracy (last checkpoint) of "
                   f"each single-test-environment run against each hyperparameter that varies; colors: test "
                   f"environment; black: mean per value. {len(points)} runs.")
        if left:
            caption += f" Not shown: {', '.join(left)}."
        figure = sensitivity_figure(points, shown, algorithm, environments)
        plots.append(Plot("sensitivity", dataset, caption, to_svg(figure, f"sensitivity:{dataset}:{algorithm}"),
                          algorithm=algorithm))
    return plots
