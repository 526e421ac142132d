"""The subpopulation protocol's model selection, tables, records and figures, on hand-made runs."""
from __future__ import annotations

import json
import os

import pytest

from report_runs import write_subpopulation_run
from rgd_bench.report.build import make_report
from rgd_bench.report.subpopulation import SELECTION_KEYS, SELECTIONS, best_checkpoint


def build(path, *selections):
    return make_report([str(path)], [], "ERM", subpopulation=[SELECTION_KEYS[k] for k in selections] or SELECTIONS)


@pytest.fixture
def sweep(tmp_path):
    """ERM and JTT, 2 hparams x 2 trials, checkpoints where each method's metric peaks elsewhere."""
    for algorithm, shift in (("ERM", 0.0), ("JTT", 0.1)):
        for trial in (0, 1):
            for hp in (0, 1):
                checkpoints = [
                    # checkpoint 0: best validation average accuracy
                    {"val_avg_acc": 0.9, "val_worst_group_acc": 0.2, "val_worst_class_acc": 0.6,
                     "test_avg_acc": 0.88 + shift, "test_worst_group_acc": 0.1 + shift, "test_ece": 0.05,
                     "test_acc_y0_a0": 0.9, "test_acc_y0_a1": 0.1 + shift},
                    # checkpoint 1: best validation worst-group accuracy (better with hparams 1)
                    {"val_avg_acc": 0.8, "val_worst_group_acc": 0.5 + 0.1 * hp, "val_worst_class_acc": 0.7,
                     "test_avg_acc": 0.80 + 0.01 * hp + shift, "test_worst_group_acc": 0.45 + 0.1 * hp + shift + 0.01 * trial,
                     "test_ece": 0.1, "test_acc_y0_a0": 0.8, "test_acc_y0_a1": 0.45 + 0.1 * hp + shift},
                    # checkpoint 2: best validation worst-class and test worst-group accuracy
                    {"val_avg_acc": 0.7, "val_worst_group_acc": 0.4, "val_worst_class_acc": 0.9,
                     "test_avg_acc": 0.7 + shift, "test_worst_group_acc": 0.65 + shift + 0.02 * trial, "test_ece": 0.2,
                     "test_acc_y0_a0": 0.7, "test_acc_y0_a1": 0.65 + shift},
                ]
                write_subpopulation_run(tmp_path, f"{algorithm}-{trial}-{hp}", checkpoints=checkpoints,
                                        algorithm=algorithm, trial_seed=trial, hparams_seed=hp)
    return tmp_path


def cells(board, algorithm, table=0):
    t = board.tables[table]
    return {metric: (cell.mean if cell else None) for (_, metric), cell in zip(t.columns, t.cells[algorithm])}


def test_each_method_selects_by_its_own_validation_metric(sweep):
    report = build(sweep)
    boards = {board.key: board for board in report.subpopulation}
    assert list(boards) == ["subpop_worst_group", "subpop_worst_class", "subpop_average", "subpop_oracle"]
    # worst-group: checkpoint 1 of hparams 1 in both trials
    assert cells(boards["subpop_worst_group"], "ERM") == pytest.approx(
        {"avg_acc": 81.0, "worst_group_acc": 55.5, "ece": 10.0})
    assert boards["subpop_worst_group"].tables[0].selected == {"ERM": 1, "JTT": 1}
    # worst-class and oracle: checkpoint 2 (hparams 0 among equals); average: checkpoint 0
    assert cells(boards["subpop_worst_class"], "ERM")["worst_group_acc"] == pytest.approx(66.0)
    assert boards["subpop_worst_class"].tables[0].selected["ERM"] == 0
    assert cells(boards["subpop_average"], "ERM")["avg_acc"] == pytest.approx(88.0)
    assert cells(boards["subpop_oracle"], "JTT")["worst_group_acc"] == pytest.approx(76.0)
    # only the columns the runs recorded: no balanced accuracy, no auroc here
    assert [m for _, m in boards["subpop_average"].tables[0].columns] == ["avg_acc", "worst_group_acc", "ece"]


def test_spread_and_paired_comparison_over_trial_seeds(sweep):
    board = build(sweep, "subpop_worst_group").subpopulation[0]
    table = board.tables[0]
    worst_group = table.cells["JTT"][1]
    assert worst_group.values == pytest.approx((0.65, 0.66)) and worst_group.error == pytest.approx(0.7071, abs=1e-3)
    comparison = table.comparisons["JTT"][1]
    assert comparison.n_pairs == 2 and comparison.mean_difference == pytest.approx(10.0)


def test_one_table_per_dataset_and_attribute_setting(sweep):
    write_subpopulation_run(sweep, "no-attr", checkpoints=[{"val_worst_group_acc": 0.3}], train_attr="no")
    write_subpopulation_run(sweep, "imbalanced", checkpoints=[{"val_worst_group_acc": 0.3}],
                            dataset="ImbalancedMNIST5k", train_attr="no")
    names = [t.dataset for t in build(sweep, "subpop_worst_group").subpopulation[0].tables]
    assert names == ["ImbalancedMNIST5k (train_attr no)", "SpuriousTabularGroups (train_attr yes)",
                     "SpuriousTabularGroups (train_attr no)"]


def test_ties_go_to_the_first_checkpoint_as_subpopbenchs_argmax(tmp_path):
    run_dir = write_subpopulation_run(tmp_path, "r", checkpoints=[{"val_worst_class_acc": 0.0}] * 3)
    (run,) = make_report([str(tmp_path)], []).sweep.runs
    assert best_checkpoint(run, "val_worst_class_acc").index == 0 and run.directory == run_dir


def test_invalid_records_are_rejected_and_counted(tmp_path):
    good = write_subpopulation_run(tmp_path, "good", checkpoints=[{}, {}])
    bad = write_subpopulation_run(tmp_path, "bad", checkpoints=[{"test_ece": 1.5}, {}], hparams_seed=1)
    missing = write_subpopulation_run(tmp_path, "missing", checkpoints=[{}], hparams_seed=2)
    with open(os.path.join(missing, "results.jsonl")) as f:
        record = json.loads(f.read())
    del record["val_worst_class_acc"]
    with open(os.path.join(missing, "results.jsonl"), "w") as f:
        f.write(json.dumps(record) + "\n" + json.dumps({**record, "val_worst_class_acc": float("nan")}) + "\n")
    report = make_report([str(tmp_path)], [])
    assert sorted(run.directory for run in report.sweep.runs) == sorted([good, bad])
    (kept,) = [run for run in report.sweep.runs if run.directory == bad]
    assert kept.n_records == 1  # its first line: test_ece 1.5 is not in [0, 1]
    notes = " ".join(report.sweep.notes())
    assert "bad value" in notes and "run(s) with no valid record" in notes and missing in notes


def test_every_format_renders_the_subpopulation_tables(sweep, cli, tmp_path):
    out = tmp_path / "out"
    result = cli("rgd_bench.report", str(sweep), "--out_dir", str(out))
    assert result.returncode == 0, result.stderr
    text = (out / "leaderboard.txt").read_text()
    assert "SpuriousTabularGroups (train_attr yes), model selection method: validation worst-group accuracy" in text
    rows = json.loads((out / "leaderboard.json").read_text())
    jtt = [r for r in rows if r["selection"] == "subpop_worst_group" and r["algorithm"] == "JTT"
           and r["environment"] == "test worst_group_acc"]
    assert len(jtt) == 1 and jtt[0]["mean"] == pytest.approx(65.5) and jtt[0]["baseline"] == "ERM"
    html = (out / "leaderboard.html").read_text()
    assert html.count("worst-group accuracy against its average accuracy") == 4  # one per method
    assert html.count("accuracy of each label x attribute group") == 4
    hparams = json.loads((out / "selected_hparams.json").read_text())
    chosen = [e for e in hparams if e["selection"] == "subpop_worst_group" and e["algorithm"] == "ERM"]
    assert "--train_attr" in chosen[0]["trials"][0]["argv"]
    assert "NaN" not in html and "nan" not in text


def test_selection_names_and_a_protocol_mismatch_are_one_line(sweep, cli):
    result = cli("rgd_bench.report", str(sweep), "--selection", "training_domain")
    assert result.returncode == 2 and "subpopulation protocol, whose methods are subpop_worst_group" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("rgd_bench.report", str(sweep), "--selection", "subpop_worst")
    assert result.returncode == 2 and "unknown method 'subpop_worst'" in result.stderr
