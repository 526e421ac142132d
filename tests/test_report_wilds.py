"""The report's WILDS method: early stopping on the official validation metric, hparams by
its mean over replicates, mean +/- std (ddof=1) over replicates."""
from __future__ import annotations

import json
import math

import pytest

from report_runs import write_run, write_wilds_run
from rgd_bench.report import SELECTION_METHODS, make_report
from rgd_bench.report.formats import renderer


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
