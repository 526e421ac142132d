"""The report's figures read at a glance: one color per algorithm across every figure,
categorical hyperparameters on categorical axes, log axes with few labels that never
overlap, one axis per hyperparameter for every algorithm."""
from __future__ import annotations

import collections
import math

import pytest
from hypothesis import given, strategies as st

from report_runs import write_run
from rgd_bench.report import SELECTION_METHODS, make_report
from rgd_bench.report.axes import LOG_RATIO, MAX_TICKS, category_label, hparam_axis
from rgd_bench.report.synthetic import synthetic_sweep, synthetic_wilds_sweep

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from rgd_bench.report import plots  # noqa: E402
from rgd_bench.report.formats import html  # noqa: E402


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> dict:
    """Every figure of the page of a report with DomainBed runs (ERM, RGD) and WILDS runs
    (RGD, ALSO): each board alone would give RGD another place, so another color."""
    path = tmp_path_factory.mktemp("runs")
    synthetic_sweep(str(path / "dg"), datasets=[("VLCS", 4)], algorithms=["ERM", "RGD"], n_hparams=3, n_trials=2,
                    n_checkpoints=3, pairs=False)
    synthetic_wilds_sweep(str(path / "wilds"), ["RGD", "ALSO"], n_hparams=3, n_trials=2, n_epochs=3)
    report = make_report([str(path / "dg"), str(path / "wilds")], list(SELECTION_METHODS.values()))
    figures = {}

    def capture(figure, name):
        figures[name] = figure
        return "<svg></svg>"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "to_svg", capture)
        html.render(report)
    return {"report": report, "figures": figures}


def _algorithm_colors(figure) -> dict[str, set[str]]:
    """Algorithm -> the colors it is drawn in: bars and lines by their legend label,
    sensitivity points by the figure's title (the algorithm)."""
    found = collections.defaultdict(set)
    title = figure._suptitle.get_text() if figure._suptitle is not None else ""
    for ax in figure.axes:
        for container in ax.containers:
            if container.get_label() and not container.get_label().startswith("_"):
                found[container.get_label()].add(to_hex(container.patches[0].get_facecolor()))
        for line in ax.lines:
            if not line.get_label().startswith("_") and line.get_label() != "mean":
                found[line.get_label()].add(to_hex(line.get_color()))
        for collection in ax.collections:
            if isinstance(collection, PathCollection):  # sensitivity points (not error bars)
                found[title].update(to_hex(c) for c in collection.get_facecolors())
    return found


def test_each_algorithm_has_one_color_in_every_figure(drawn):
    figures = drawn["figures"]
    kinds = {name.split(":")[0] for name in figures}
    assert kinds == {"bars", "curves", "sensitivity"}
    colors: dict[str, set[str]] = collections.defaultdict(set)
    seen_in = collections.defaultdict(set)
    for name, figure in figures.items():
        for algorithm, found in _algorithm_colors(figure).items():
            colors[algorithm] |= found
            seen_in[algorithm].add(name)
    assert set(colors) == {"ERM", "RGD", "ALSO"}
    assert all(len(found) == 1 for found in colors.values()), colors
    assert len({found.pop() for found in colors.values()}) == 3  # and no two share one
    # RGD is drawn in DomainBed's and WILDS's bars, curves and sensitivity figures alike.
    assert {name.split(":")[0] for name in seen_in["RGD"]} == kinds
    assert any("wilds" in name for name in seen_in["RGD"]) and any("VLCS" in name for name in seen_in["RGD"])


def _panel(figure, title: str):
    return next(ax for ax in figure.axes if ax.get_visible() and ax.get_title() == title)


def test_categorical_hyperparameters_are_on_categorical_axes(drawn):
    figure = drawn["figures"]["sensitivity:synthetic_waterbirds:RGD"]
    runs = [r for r in drawn["report"].sweep.runs if r.dataset == "synthetic_waterbirds"]
    for name in ("optimizer", "mlp_depth", "nonlinear_classifier"):
        ax = _panel(figure, name)
        expected = sorted({category_label(r.hparams[name]) for r in runs},  # numbers in numeric order
                          key=lambda label: (0, int(label), "") if label.isdigit() else (1, 0, label))
        assert [t.get_text() for t in ax.get_xticklabels()] == expected, name
        assert ax.get_xscale() == "linear" and ax.get_xlim() == (-0.5, len(expected) - 0.5)
        xs = {x for collection in ax.collections for x, _ in collection.get_offsets()}
        assert xs <= set(range(len(expected))), name  # each point on its category
    assert {t.get_text() for t in _panel(figure, "nonlinear_classifier").get_xticklabels()} <= {"false", "true"}


def _visible_tick_boxes(figure, ax) -> list:
    """The drawn extents of the x tick labels (major and minor) within the axis' limits."""
    FigureCanvasAgg(figure)
    figure.canvas.draw()
    low, high = sorted(ax.get_xlim())
    labels = ax.get_xticklabels() + ax.get_xticklabels(minor=True)
    return sorted((label.get_window_extent() for label in labels
                   if label.get_text() and low <= label.get_position()[0] <= high), key=lambda box: box.x0)


def _assert_readable(name, figure, ax) -> None:
    boxes = _visible_tick_boxes(figure, ax)
    assert 1 <= len(boxes) <= MAX_TICKS, (name, ax.get_title(), len(boxes))
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:])), (name, ax.get_title())


def test_log_axes_have_few_labels_that_do_not_overlap(drawn):
    log_panels = [(name, figure, ax) for name, figure in drawn["figures"].items() for ax in figure.axes
                  if ax.get_visible() and ax.get_xscale() == "log"]
    # rgd_clip spans 0.1..10 by its sampler, weight_decay 1e-6..1e-2: always log.
    assert {("sensitivity:synthetic_waterbirds:RGD", "rgd_clip"), ("sensitivity:VLCS:ERM", "weight_decay")} <= {
        (name, ax.get_title()) for name, _, ax in log_panels}
    for name, figure, ax in log_panels:
        _assert_readable(name, figure, ax)


@pytest.mark.parametrize("values", [[0.35, 0.5, 0.9, 2.0, 7.1],  # one power of ten within: matplotlib labels 3x, 4x ...
                                    [3e-7, 1e-5, 2e-3, 0.5, 40.0]])  # 8 decades
def test_log_axes_are_readable_over_short_and_long_ranges(tmp_path, monkeypatch, values):
    for i, value in enumerate(values):
        write_run(tmp_path, f"r{i}", test_envs=[0], algorithm="RGD", hparams_seed=i, hparams={"rgd_clip": value},
                  accs=[{}, {"env0_in_acc": 0.5 + 0.05 * i}])
    report = make_report([str(tmp_path)], [])
    figures = {}
    monkeypatch.setattr(plots, "to_svg", lambda figure, name: figures.setdefault(name, figure) and "")
    plots.sensitivity_plots(report.sweep.runs, "VLCS", plots.algorithm_colors(report.algorithms), ["C", "L", "S", "V"])
    ax = _panel(figures["sensitivity:VLCS:RGD"], "rgd_clip")
    assert ax.get_xscale() == "log"
    _assert_readable("rgd_clip", figures["sensitivity:VLCS:RGD"], ax)


def test_a_hyperparameter_has_the_same_axis_for_every_algorithm(drawn):
    figures = drawn["figures"]
    for dataset, algorithms in (("synthetic_waterbirds", ("RGD", "ALSO")), ("VLCS", ("ERM", "RGD"))):
        lr = [_panel(figures[f"sensitivity:{dataset}:{a}"], "lr") for a in algorithms]
        assert lr[0].get_xlim() == lr[1].get_xlim() and lr[0].get_xscale() == lr[1].get_xscale()
    runs = [r for r in drawn["report"].sweep.runs if r.dataset == "synthetic_waterbirds"]
    low, high = _panel(figures["sensitivity:synthetic_waterbirds:ALSO"], "lr").get_xlim()
    assert low < min(r.hparams["lr"] for r in runs) and max(r.hparams["lr"] for r in runs) < high


positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(low=positive, ratio=st.floats(min_value=1.01 * LOG_RATIO, max_value=1e15),
       inner=st.lists(st.floats(0, 1), max_size=5))
def test_log_axes_keep_one_to_max_ticks_within_their_limits(low, ratio, inner):
    values = [low, low * ratio] + [low * ratio ** f for f in inner]
    axis = hparam_axis("x", values)
    ticks = axis.ticks()
    assert axis.log and 1 <= len(ticks) <= MAX_TICKS
    assert all(axis.limits[0] <= t <= axis.limits[1] for t in ticks) and ticks == sorted(set(ticks))
    assert axis.limits[0] < min(values) and max(values) < axis.limits[1]


@given(st.lists(st.one_of(st.booleans(), st.sampled_from(["adam", "sgd", "x y"]), st.integers(-3, 3), st.none()),
                min_size=1, max_size=20))
def test_categorical_axes_put_each_value_on_its_own_category(values):
    axis = hparam_axis("x", values)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        assert axis.categories  # few integers: categorical
    if axis.categories:
        positions = {category_label(v): axis.position(v) for v in values}
        assert sorted(positions.values()) == list(range(len(axis.categories)))
        assert axis.limits == (-0.5, len(axis.categories) - 0.5)
    else:
        assert all(math.isfinite(axis.position(v)) for v in values)
