"""The report's WILDS method: early stopping on the official validation metric, hparams by
its mean over replicates, mean +/- std (ddof=1) over replicates."""
from __future__ import annotations

import collections
import csv
import functools
import io
import json
import math
import os
import re
import shutil
import statistics
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from report_runs import write_run, write_wilds_run
from rgd_bench.report import SELECTION_METHODS, make_report
from rgd_bench.report.formats import renderer
from rgd_bench.report.nearby import nearby_with
from rgd_bench.report.synthetic import synthetic_sweep, synthetic_wilds_sweep
from test_bad_input import one_line

scipy_stats = pytest.importorskip("scipy.stats")  # an independent paired t-test
BarContainer = pytest.importorskip("matplotlib.container").BarContainer
from rgd_bench.report import plots  # noqa: E402  (after matplotlib is known to be there)


def ckpt(val_wg, test_wg, test_avg=0.9):
    return {"val_acc_wg": val_wg, "val_acc_avg": 0.9, "test_acc_wg": test_wg, "test_acc_avg": test_avg}


@pytest.fixture
def wilds_sweep(tmp_path):
    # hparams 0: replicates' best val_acc_wg 0.75 and 0.5 (mean 0.625);
    # hparams 1: 0.625 and 0.75 (mean 0.6875) -> chosen.
    write_wilds_run(tmp_path, "h0t0", hparams_seed=0, trial_seed=0,
                    checkpoints=[ckpt(0.5, 0.1), ckpt(0.75, 0.2), ckpt(0.75, 0.3)])
    write_wilds_run(tmp_path, "h0t1", hparams_seed=0, trial_seed=1, checkpoints=[ckpt(0.5, 0.4)])
    write_wilds_run(tmp_path, "h1t0", hparams_seed=1, trial_seed=0,
                    checkpoints=[ckpt(0.625, 0.5), ckpt(0.25, 0.99)])
    write_wilds_run(tmp_path, "h1t1", hparams_seed=1, trial_seed=1, checkpoints=[ckpt(0.5, 0.0), ckpt(0.75, 0.75)])
    return tmp_path


def test_wilds_selection_early_stops_and_picks_hparams_by_mean_over_replicates(wilds_sweep):
    report = make_report([str(wilds_sweep)], list(SELECTION_METHODS.values()))
    assert report.boards == []  # no DomainBed-protocol runs
    (table,) = report.wilds.tables
    assert table.columns == [("test", "acc_wg"), ("test", "acc_avg")]
    assert table.selected["ERM"] == 1
    worst_group = table.cells["ERM"][0]
    assert worst_group.values == (0.5, 0.75)  # checkpoint 0 of h1t0, checkpoint 1 of h1t1
    assert worst_group.mean == pytest.approx(62.5)
    assert worst_group.error == pytest.approx(100 * math.sqrt(((0.5 - 0.625) ** 2 + (0.75 - 0.625) ** 2) / 1))


def test_a_decreasing_metric_is_minimised(tmp_path):
    for trial in (0, 1):
        write_wilds_run(tmp_path, f"t{trial}", trial_seed=trial, dataset="toyreg", val_metric="mse",
                        decreasing=True, checkpoints=[{"val_mse": 2.0, "test_mse": 1.0},
                                                      {"val_mse": 1.0, "test_mse": 3.0}])
    (table,) = make_report([str(tmp_path)], []).wilds.tables
    assert table.columns == [("test", "mse")]
    assert table.cells["ERM"][0].values == (3.0, 3.0) and table.cells["ERM"][0].mean == 3.0  # not an accuracy: no %


def test_wilds_and_domainbed_runs_share_one_report(wilds_sweep):
    write_run(wilds_sweep, "dg", test_envs=[0], accs=[{"env0_in_acc": 0.5}])
    report = make_report([str(wilds_sweep)], list(SELECTION_METHODS.values()))
    assert len(report.boards) == 3 and report.wilds is not None
    text = renderer("text")(report)
    assert "model selection method: WILDS official validation metric (acc_wg)" in text
    assert "62.5 +/- 17.7" in text
    rows = [r for r in json.loads(renderer("json")(report)) if r["selection"] == "wilds"]
    assert [(r["environment"], round(r["mean"], 1), r["n_trials"]) for r in rows] == [
        ("test acc_wg", 62.5, 2), ("test acc_avg", 90.0, 2)]
    chosen = [e for e in json.loads(renderer("hparams")(report)) if e["selection"] == "wilds"]
    assert [t["selected_step"] for t in chosen[0]["trials"]] == [0, 10]
    assert all("--test_envs" not in t["argv"] for t in chosen[0]["trials"])


# ---- every format, on runs as the engine writes them ---------------------------------------

ALGORITHMS = ["ERM", "GroupDRO", "RGD"]


@pytest.fixture(scope="module")
def engine_like_sweep(tmp_path_factory) -> str:
    """Two datasets: one whose official metric is worst-group accuracy, one (camelyon17)
    whose official metric is acc_avg, so the worst-group column is added."""
    path = str(tmp_path_factory.mktemp("wilds_runs"))
    synthetic_wilds_sweep(path, ALGORITHMS)
    synthetic_wilds_sweep(path, ALGORITHMS, dataset="camelyon17", val_metric="acc_avg", seed=1)
    return path


@pytest.fixture(scope="module")
def rendered(engine_like_sweep) -> Callable[[str], str]:
    """The sweep's report in a format, each format rendered once (the page's figures take seconds)."""
    report = make_report([engine_like_sweep], list(SELECTION_METHODS.values()))
    return functools.cache(lambda fmt: renderer(fmt)(report))


def expected_tables(sweep_dir) -> dict:
    """{dataset: {"columns": [...], algorithm: {"seed": s, "steps": [...], metric: [values by trial]}}},
    from the results files with nothing of the report: early stopping on val, hparams by mean."""
    best: dict = collections.defaultdict(dict)  # (dataset, algorithm) -> {hparams_seed: {trial: record}}
    for name in os.listdir(sweep_dir):
        with open(os.path.join(sweep_dir, name, "results.jsonl"), encoding="utf-8") as f:
            records = [json.loads(line) for line in f]
        args, metric = records[0]["args"], records[0]["val_metric"]
        chosen = max(records, key=lambda r: r[f"val_{metric}"])  # max: the first among equals
        best[(args["dataset"], args["algorithm"])].setdefault(args["hparams_seed"], {})[args["trial_seed"]] = chosen
    tables: dict = collections.defaultdict(dict)
    for (dataset, algorithm), by_seed in best.items():
        metric = next(iter(by_seed.values()))[0]["val_metric"]
        seed = max(sorted(by_seed), key=lambda s: statistics.mean(r[f"val_{metric}"] for r in by_seed[s].values()))
        trials = [by_seed[seed][t] for t in sorted(by_seed[seed])]
        tables[dataset]["columns"] = list(dict.fromkeys([metric, "acc_avg", "acc_wg"]))
        tables[dataset][algorithm] = {"seed": seed, "steps": [r["step"] for r in trials],
                                      **{m: [r[f"test_{m}"] for r in trials] for m in tables[dataset]["columns"]}}
    return tables


def expected_cells(table: dict, plus_minus: str, mark: str, bold: Callable[[str], str]) -> dict[str, list[str]]:
    """Each algorithm's cells as a format writes them: mean +/- std (ddof=1) in %, the mark
    where scipy's paired t-test against ERM gives p < 0.05, the column's best in bold."""
    rows = {}
    for algorithm in ALGORITHMS:
        cells = []
        for metric in table["columns"]:
            values = table[algorithm][metric]
            text = f"{100 * statistics.mean(values):.1f} {plus_minus} {100 * statistics.stdev(values):.1f}"
            if algorithm != "ERM" and scipy_stats.ttest_rel(values, table["ERM"][metric]).pvalue < 0.05:
                text += mark
            top = max(round(100 * statistics.mean(table[a][metric]), 1) for a in ALGORITHMS)
            cells.append(bold(text) if round(100 * statistics.mean(values), 1) == top else text)
        rows[algorithm] = cells
    return rows


def _rows(text: str, start: str, parse: Callable[[str], list[str]]) -> dict[str, list[str]]:
    """The algorithms' rows of the first table after ``start``."""
    lines = text[text.index(start):].splitlines()
    return {a: parse(next(line for line in lines if re.match(rf"\W*(?:<tr><th scope=\"row\">)?{a}\b", line)))
            for a in ALGORITHMS}


FORMAT_ROWS = {  # format -> (heading of a dataset's table, row parser, +/-, mark, bold)
    "text": ("-------- Dataset: {}, model selection method: WILDS", lambda line: re.split(r"\s{2,}", line)[1:],
             "+/-", "*", lambda t: t),
    "markdown": ("### Dataset: {}", lambda line: [c.strip() for c in line.strip("| ").split(" | ")][1:],
                 "±", "\\*", lambda t: f"**{t}**"),
    "latex": ("\\subsubsection{{Dataset: {}}}", lambda line: [c.strip() for c in line.rstrip("\\ ").split(" & ")][1:],
              "$\\pm$", "$^{*}$", lambda t: f"\\textbf{{{t}}}"),
    "html": ("<h3>Dataset: {}</h3>", lambda line: re.findall(r"<td>(.*?)</td>", line), "±", "*",
             lambda t: f"<strong>{t}</strong>"),
}


@pytest.mark.parametrize("fmt", FORMAT_ROWS)
def test_every_format_shows_the_wilds_tables_with_best_bold_and_marks(engine_like_sweep, rendered, fmt):
    expected = expected_tables(engine_like_sweep)
    text = rendered(fmt)
    heading, parse, plus_minus, mark, bold = FORMAT_ROWS[fmt]
    marks = 0
    for dataset in ("camelyon17", "synthetic_waterbirds"):
        cells = expected_cells(expected[dataset], plus_minus, mark, bold)
        shown = dataset.replace("_", "\\_") if fmt == "latex" else dataset
        assert _rows(text, heading.format(shown), parse) == cells, dataset
        marks += sum(mark in c for row in cells.values() for c in row)
    assert 0 < marks < 2 * 2 * 2  # some comparisons significant, some not: the marks are tested both ways
    assert "acc_wg: worst-group accuracy" in text.replace("\\_", "_")


def test_worst_group_column_follows_the_official_metrics(engine_like_sweep):
    report = make_report([engine_like_sweep], [])
    columns = {t.dataset: t.columns for t in report.wilds.tables}
    assert columns == {"camelyon17": [("test", "acc_avg"), ("test", "acc_wg")],  # WILDS's official metric, then wg
                       "synthetic_waterbirds": [("test", "acc_wg"), ("test", "acc_avg")]}


def test_domainbed_results_txt_carries_the_wilds_tables(engine_like_sweep, rendered):
    expected = expected_tables(engine_like_sweep)
    text = rendered("domainbed")
    block = text[text.index("-------- Dataset: synthetic_waterbirds"):]
    assert re.split(r"\s{2,}", block.splitlines()[1].strip()) == ["Algorithm", "test acc_wg", "test acc_avg"]
    rgd = next(line for line in block.splitlines() if line.startswith("RGD "))
    values = expected["synthetic_waterbirds"]["RGD"]["acc_wg"]
    assert rgd.split()[1:4] == [f"{100 * statistics.mean(values):.1f}", "+/-", f"{100 * statistics.stdev(values):.1f}"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_rows_carry_means_stds_and_the_paired_tests(engine_like_sweep, rendered, fmt):
    expected = expected_tables(engine_like_sweep)
    text = rendered(fmt)
    rows = list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text)
    rows = {(r["dataset"], r["algorithm"], r["environment"]): r for r in rows if r["selection"] == "wilds"}
    assert len(rows) == 2 * len(ALGORITHMS) * 2
    for dataset, table in expected.items():
        for algorithm in ALGORITHMS:
            for metric in table["columns"]:
                row, values = rows[(dataset, algorithm, f"test {metric}")], table[algorithm][metric]
                assert float(row["mean"]) == pytest.approx(100 * statistics.mean(values))
                assert float(row["std"]) == pytest.approx(100 * statistics.stdev(values))
                if algorithm == "ERM":
                    assert row["p_value"] in ("", None)
                    continue
                test = scipy_stats.ttest_rel(values, table["ERM"][metric])
                assert float(row["p_value"]) == pytest.approx(test.pvalue, rel=1e-6)
                assert float(row["difference_vs_baseline"]) == pytest.approx(
                    100 * statistics.mean(values) - 100 * statistics.mean(table["ERM"][metric]))
                assert str(row["significant"]) == str(test.pvalue < 0.05) and int(row["n_pairs"]) == 3


def test_selected_hparams_file_names_the_wilds_choices(engine_like_sweep, rendered):
    expected = expected_tables(engine_like_sweep)
    entries = json.loads(rendered("hparams"))
    for entry in entries:
        table = expected[entry["dataset"]][entry["algorithm"]]
        assert [t["hparams_seed"] for t in entry["trials"]] == [table["seed"]] * 3
        assert [t["selected_step"] for t in entry["trials"]] == table["steps"]
    assert len(entries) == 2 * len(ALGORITHMS)


def test_html_draws_the_wilds_bars_curves_against_epoch_and_sensitivity(rendered):
    page = rendered("html")
    wilds = page[page.index('<section id="wilds">'):].split("</section>")[0]
    assert wilds.count("<svg") == 2 and wilds.count("<table>") == 2  # per dataset: its table and its bars
    curves = page[page.index('<section id="curves">'):].split("</section>")[0]
    assert curves.count("<svg") == 2 and ">epoch</text>" in curves
    sensitivity = page[page.index('<section id="sensitivity">'):].split("</section>")[0]
    assert sensitivity.count("<svg") == 2 * len(ALGORITHMS)  # lr, mlp_depth, optimizer ... vary
    assert '<a href="#wilds">' in page


def test_wilds_bars_heights_and_error_bars_are_the_table_cells(engine_like_sweep):
    report = make_report([engine_like_sweep], [])
    board = report.wilds
    index = [t.dataset for t in board.tables].index("synthetic_waterbirds")
    figure = plots.metric_bars_figure(board, index, plots.algorithm_colors(report.algorithms))
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["test acc_wg", "test acc_avg"]
    for c, ax in enumerate(panels):
        cells = [board.tables[index].cells[a][c] for a in ALGORITHMS]
        assert [p.get_height() for p in ax.patches] == pytest.approx([cell.mean for cell in cells])
        bars = [container for container in ax.containers if isinstance(container, BarContainer)]
        spans = [bar.errorbar.lines[2][0].get_segments()[0] for bar in bars]
        assert [abs(s[1][1] - s[0][1]) / 2 for s in spans] == pytest.approx([cell.error for cell in cells])


def test_a_report_of_both_protocols_shows_both(tmp_path):
    synthetic_sweep(str(tmp_path / "dg"), datasets=[("VLCS", 4)], algorithms=["ERM", "RGD"], n_hparams=1,
                    n_trials=2, n_checkpoints=3, pairs=False)
    synthetic_wilds_sweep(str(tmp_path / "wilds"), ["ERM", "RGD"], n_hparams=1, n_trials=2, n_epochs=2)
    report = make_report([str(tmp_path / "dg"), str(tmp_path / "wilds")], list(SELECTION_METHODS.values()))
    for fmt in ("text", "markdown", "latex", "html", "domainbed"):
        text = renderer(fmt)(report).replace("\\_", "_")
        assert "Dataset: VLCS" in text and "Dataset: synthetic_waterbirds" in text, fmt
    rows = json.loads(renderer("json")(report))
    assert {r["selection"] for r in rows} == {*SELECTION_METHODS, "wilds"}


# ---- a selection that finds no run of its protocol ------------------------------------------

@pytest.fixture
def two_sweeps(tmp_path):
    """A parent holding a DomainBed sweep and a WILDS sweep side by side."""
    synthetic_sweep(str(tmp_path / "dg"), datasets=[("VLCS", 4)], algorithms=["ERM"], n_hparams=1, n_trials=1,
                    n_checkpoints=2, pairs=False)
    synthetic_wilds_sweep(str(tmp_path / "wilds runs"), ["ERM"], n_hparams=1, n_trials=1, n_epochs=2)
    return tmp_path


def test_wilds_selection_on_domainbed_runs_names_the_wilds_sweep_beside_it(two_sweeps, cli):
    result = cli("rgd_bench.report", str(two_sweeps / "dg"), "--selection", "wilds")
    err = one_line(result)
    assert "--selection wilds: no run in" in err and "trained under WILDS's protocol" in err
    assert err.endswith(f"WILDS runs are in: {str(two_sweeps / 'wilds runs')!r}")
    assert result.stdout == ""


def test_domainbed_selection_on_wilds_runs_says_so_and_names_the_domainbed_sweep(two_sweeps, cli):
    err = one_line(cli("rgd_bench.report", str(two_sweeps / "wilds runs"), "--selection", "oracle,training_domain"))
    assert "were trained under WILDS's protocol" in err and "use --selection wilds" in err
    assert err.endswith(f"DomainBed runs are in: {str(two_sweeps / 'dg')!r}")


def test_wilds_selection_with_no_wilds_runs_anywhere_says_so(two_sweeps, cli):
    shutil.rmtree(two_sweeps / "wilds runs")
    err = one_line(cli("rgd_bench.report", str(two_sweeps / "dg"), "--selection", "wilds"))
    assert err.endswith("no directory under or beside it holds WILDS runs")


def test_nearby_finds_sweeps_under_the_given_path_too(two_sweeps):
    assert nearby_with([str(two_sweeps / "dg")], "WILDS") == [str(two_sweeps / "wilds runs")]
    (two_sweeps / "holder").mkdir()
    (two_sweeps / "dg").rename(two_sweeps / "holder" / "dg")
    assert nearby_with([str(two_sweeps / "holder")], "DomainBed") == [str(two_sweeps / "holder" / "dg")]


@pytest.fixture(scope="module")
def protocol_dirs(tmp_path_factory) -> dict[frozenset, str]:
    """Sweep directories holding DomainBed's runs, WILDS's, or both."""
    root = tmp_path_factory.mktemp("protocols")
    for name in ("dg", "both"):
        synthetic_sweep(str(root / name), datasets=[("VLCS", 2)], algorithms=["ERM"], n_hparams=1, n_trials=1,
                        n_checkpoints=2, pairs=False)
    for name in ("wilds", "both"):
        synthetic_wilds_sweep(str(root / name), ["ERM"], n_hparams=1, n_trials=1, n_epochs=2)
    return {frozenset({"DomainBed"}): str(root / "dg"), frozenset({"WILDS"}): str(root / "wilds"),
            frozenset({"DomainBed", "WILDS"}): str(root / "both")}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(held=st.sampled_from([{"DomainBed"}, {"WILDS"}, {"DomainBed", "WILDS"}]),
       asked=st.lists(st.sampled_from(["training_domain", "leave_one_out", "oracle", "iid", "loo", "wilds"]),
                      min_size=1, max_size=4))
def test_a_selection_gives_tables_exactly_when_a_method_asked_for_has_runs(protocol_dirs, cli, held, asked):
    result = cli("rgd_bench.report", protocol_dirs[frozenset(held)], "--selection", ",".join(asked), "--format", "json")
    shown = {"WILDS" if name == "wilds" else "DomainBed" for name in asked} & held
    if shown:
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert {"WILDS" if r["selection"] == "wilds" else "DomainBed" for r in rows} == shown
    else:
        assert "--selection" in one_line(result) and result.stdout == ""
