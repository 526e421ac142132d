"""The HTML report: one self-contained page whose tables match the other formats and whose
plots show what their captions say, byte-identical when rendered again."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, run_module
from report_runs import write_run
from rgd_bench.report import SELECTION_METHODS, make_report
from rgd_bench.report import plots
from rgd_bench.report.axes import hparam_axes, varying_hparams
from rgd_bench.report.formats import html, markdown
from rgd_bench.report.synthetic import synthetic_sweep

BarContainer = pytest.importorskip("matplotlib.container").BarContainer

ALL_METHODS = list(SELECTION_METHODS.values())
DATASETS = [("VLCS", 4), ("PACS", 4)]
ENVIRONMENTS = {"VLCS": ["C", "L", "S", "V"], "PACS": ["A", "C", "P", "S"]}
ALGORITHMS = ["ERM", "RGD", "GroupDRO"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("sweep"))
    synthetic_sweep(path, datasets=DATASETS, algorithms=ALGORITHMS, n_hparams=2, n_trials=2, n_checkpoints=5)
    return path


@pytest.fixture(scope="module")
def report(sweep):
    return make_report([sweep], ALL_METHODS)


@pytest.fixture(scope="module")
def page(report) -> str:
    return html.render(report)


def test_page_is_self_contained(page):
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for external in ('src="http', "href=\"http", "src='http", "<script", "<link", "<img", "@import", "url(http"):
        assert external not in page, external
    # Inline SVGs share the page's id space: every id once, every reference to one that exists.
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r'url\(#([^)]+)\)', page)) | set(re.findall(r'href="#([^"]+)"', page))
    assert refs and refs <= set(ids)


def test_page_names_every_algorithm_dataset_and_environment(page):
    for algorithm in ALGORITHMS:
        assert f'<th scope="row">{algorithm}</th>' in page
    for dataset, environments in ENVIRONMENTS.items():
        assert f"<h3>Dataset: {dataset}</h3>" in page
        header = "".join(f'<th scope="col">{e}</th>' for e in ["Algorithm", *environments, "Avg", "Worst"])
        assert header in page
    for method in ALL_METHODS:
        assert f"<h2>Model selection: {method.name}</h2>" in page


def _markdown_row(text: str, algorithm: str) -> list[tuple[str, bool]]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {algorithm} |"))
    cells = [c.strip().replace("\\*", "*") for c in line.strip("|").split(" | ")]
    return [(c.strip("*") if c.startswith("**") else c, c.startswith("**")) for c in cells[1:]]


def _html_row(text: str, algorithm: str) -> list[tuple[str, bool]]:
    row = re.search(rf'<tr><th scope="row">{algorithm}</th>(.*?)</tr>', text).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    return [(re.sub(r"</?strong>", "", c), c.startswith("<strong>")) for c in cells]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_first_table_row_matches_markdown(report, page, algorithm):
    expected = _markdown_row(markdown.render(report), algorithm)
    assert _html_row(page, algorithm) == expected
    assert len(expected) == 4 + 2 and " ± " in expected[0][0]


def test_svg_count_follows_datasets_methods_and_algorithms(page):
    # Per dataset: a bar chart per selection method, one curve figure, and a sensitivity
    # figure per algorithm (lr and weight_decay vary across the synthetic draws).
    expected = len(DATASETS) * (len(ALL_METHODS) + 1 + len(ALGORITHMS))
    assert page.count("<svg") == page.count("</svg>") == page.count("<figcaption>") == expected
    assert "<?xml" not in page and "<metadata>" not in page
    curves = page[page.index('<section id="curves">'):page.index('<section id="sensitivity">')]
    assert curves.count("<svg") == len(DATASETS) and ALL_METHODS[0].name in curves


def test_bars_one_group_per_environment_heights_are_cells(report):
    board = report.boards[0]
    index = [t.dataset for t in board.tables].index("VLCS")
    ax = plots.bars_figure(board, index, plots.algorithm_colors(report.algorithms)).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [*ENVIRONMENTS["VLCS"], "Avg"]
    table = board.tables[index]
    expected = [c.mean for a in board.algorithms for c in [*table.cells[a], board.averages.cells[a][index]]]
    assert [p.get_height() for p in ax.patches] == pytest.approx(expected)
    errors = [c.error for c in [*table.cells["ERM"], board.averages.cells["ERM"][index]]]
    (erm_bars, *_) = [c for c in ax.containers if isinstance(c, BarContainer)]
    segments = erm_bars.errorbar.lines[2][0].get_segments()
    assert [abs(s[1][1] - s[0][1]) / 2 for s in segments] == pytest.approx(errors)


def test_curves_average_the_chosen_runs_over_trials(report):
    board = report.boards[0]
    figure = plots.curves_figure(board, 0, plots.algorithm_colors(report.algorithms))
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 4
    chosen = [board.choices[(t, "VLCS", "ERM", 0)] for t in (0, 1)]
    a, b = (c.run.columns["env0_in_acc"] for c in chosen)
    line, dots = panels[0].lines[:2]
    assert list(line.get_xdata()) == list(chosen[0].run.steps)
    assert list(line.get_ydata()) == pytest.approx([50 * (x + y) for x, y in zip(a, b)])
    dots = sorted(zip(dots.get_xdata(), dots.get_ydata()))
    assert dots == pytest.approx(sorted((c.step, 100 * c.test_acc) for c in chosen))


@pytest.fixture(scope="module")
def single_env_sweep(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("single"))
    synthetic_sweep(path, datasets=[("VLCS", 4)], algorithms=["ERM", "RGD"], n_hparams=2, n_trials=2,
                    n_checkpoints=3, pairs=False)
    return path


def test_rendering_twice_gives_identical_bytes(single_env_sweep):
    first = html.render(make_report([single_env_sweep], ALL_METHODS))
    second = html.render(make_report([single_env_sweep], ALL_METHODS))
    assert first.encode() == second.encode()


def test_missing_cells_are_x_and_a_method_without_result_is_a_sentence_not_an_axis(single_env_sweep):
    # Without runs holding out two environments, leave-one-domain-out chooses nothing.
    report = make_report([single_env_sweep], ALL_METHODS)
    loo = next(b for b in report.boards if b.method.key == "leave_one_out")
    assert plots.bars_figure(loo, 0, plots.algorithm_colors(report.algorithms)) is None
    section = html.render(report).split('<section id="leave_one_out">')[1].split("</section>")[0]
    assert section.count('<td class="x">X</td>') == 2 * (4 + 2) + 2 * (1 + 1)
    assert "<svg" not in section
    assert re.search(r'<p class="empty">No bars for VLCS: leave-one-domain-out cross-validation needs[^<]*'
                     r"--single_test_envs[^<]*</p>", section)


def test_sensitivity_plots_every_varying_hparam_numeric_or_categorical(tmp_path):
    final = {"ERM": [0.61, 0.72, 0.63, 0.74], "RGD": [0.5, 0.6, 0.7, 0.8]}
    for algorithm, accs in final.items():
        for seed in (0, 1):
            for env in (0, 1):
                hparams = {"lr": 1e-3 if algorithm == "RGD" else [1e-4, 1e-2][seed], "batch_size": 32,
                           "flag": bool(seed), "optimizer": ["adam", "sgd"][seed]}
                write_run(tmp_path, f"{algorithm}{seed}{env}", test_envs=[env], algorithm=algorithm,
                          hparams_seed=seed, hparams=hparams,
                          accs=[{}, {f"env{env}_in_acc": accs[2 * seed + env]}])
    report = make_report([str(tmp_path)], ALL_METHODS)
    table = report.boards[0].tables[0]
    colors = plots.algorithm_colors(report.algorithms)
    found = plots.sensitivity_plots(report.sweep.runs, "VLCS", colors, table.environments)
    assert [p.algorithm for p in found] == ["ERM", "RGD"]  # RGD's lr is fixed, its flag and optimizer vary
    erm = [r.hparams for r in report.sweep.runs if r.algorithm == "ERM"]
    assert varying_hparams(erm) == ["flag", "lr", "optimizer"]
    assert varying_hparams([r.hparams for r in report.sweep.runs if r.algorithm == "RGD"]) == ["flag", "optimizer"]
    points = [(run, y, "") for run, y in plots.final_test_accs([r for r in report.sweep.runs if r.algorithm == "ERM"])]
    axes = hparam_axes(run.hparams for run, _, _ in points)
    figure = plots.sensitivity_figure(points, [axes["lr"]], "ERM", colors["ERM"], "final test acc (%)")
    (ax,) = [ax for ax in figure.axes if ax.get_visible()]
    assert ax.get_xscale() == "log" and ax.get_title() == "lr"
    ys = sorted(y for collection in ax.collections for _, y in collection.get_offsets())
    assert ys == pytest.approx([61, 63, 72, 74])
    page = html.render(report)
    sensitivity = page.split('<section id="sensitivity">')[1]
    assert sensitivity.count("<svg") == 2 and "VLCS, ERM:" in sensitivity and "VLCS, RGD:" in sensitivity


def test_command_line_writes_the_same_page(sweep, page, tmp_path):
    out = tmp_path / "page.html"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])))
    result = run_module("rgd_bench.report", sweep, "--format", "html", "--output", str(out), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == page  # and a fresh interpreter draws the same bytes


def test_missing_matplotlib_is_named(report, monkeypatch):
    probe = "import sys; sys.modules['matplotlib'] = None; import rgd_bench.report.formats.html; print('ok')"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.stdout.strip() == "ok", result.stderr
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'rgd_bench[plots]'")):
        html.render(report)
