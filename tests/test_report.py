"""The report: loading, DomainBed's model selection, tables, significance, exports, command line."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, run_module
from report_runs import write_run
from rgd_bench.report import SELECTION_METHODS, load_sweeps, make_report
from rgd_bench.report.formats import FORMATS, renderer
from rgd_bench.report.selection import (LeaveOneDomainOut, TestDomainOracle, TrainingDomainValidation,
                                        group_runs, select)

# DomainBed's own test sweep and collect_results output, with DomainBed's MIT licence (see its README).
FIXTURE = os.path.join(REPO_ROOT, "tests", "fixtures", "domainbed_test_sweep")
ALL_METHODS = list(SELECTION_METHODS.values())


def choices(method, sweep_dir):
    return select(method, group_runs(load_sweeps([str(sweep_dir)]).runs))


# ---- golden: DomainBed's own test sweep -------------------------------------------------

def test_domainbed_format_reproduces_collect_results_character_for_character():
    report = make_report([os.path.join(FIXTURE, "runs")], ALL_METHODS)
    with open(os.path.join(FIXTURE, "expected_results.txt"), encoding="utf-8") as f:
        assert renderer("domainbed")(report) == f.read()


def test_every_format_carries_the_golden_numbers():
    with open(os.path.join(FIXTURE, "expected_results.txt"), encoding="utf-8") as f:
        expected = re.findall(r"(\d+\.\d) \+/- (\d+\.\d)", f.read())
    assert len(expected) == 15  # 3 methods x (4 envs + 1 average)
    report = make_report([os.path.join(FIXTURE, "runs")], ALL_METHODS)
    for fmt, plus_minus in (("text", r"\+/-"), ("markdown", "±"), ("latex", r"\$\\pm\$")):
        found = re.findall(r"(\d+\.\d) " + plus_minus + r" (\d+\.\d)", renderer(fmt)(report))
        assert found == expected, fmt
    rows = [r for r in json.loads(renderer("json")(report)) if r["environment"] not in ("Worst",)]
    per_env = [(f"{r['mean']:.1f}", f"{r['std_error']:.1f}") for r in rows
               if r["dataset"] == "VLCS" and r["environment"] != "Avg"]
    averages = [(f"{r['mean']:.1f}", f"{r['std_error']:.1f}") for r in rows
                if r["dataset"] == "VLCS" and r["environment"] == "Avg"]
    assert per_env == [e for i, e in enumerate(expected) if i % 5 != 4]
    assert averages == [e for i, e in enumerate(expected) if i % 5 == 4]


# ---- selection methods on hand-computed cases ---------------------------------------------

def test_training_domain_validation_takes_the_first_best_checkpoint_and_the_last_best_hparams(tmp_path):
    # test env 0 of 3; val = mean(env1_out, env2_out); ties: first checkpoint, then highest hparams_seed.
    write_run(tmp_path, "h0", test_envs=[0], n_envs=3, hparams_seed=0, accs=[
        {"env1_out_acc": 0.5, "env2_out_acc": 0.75, "env0_in_acc": 0.125},
        {"env1_out_acc": 0.75, "env2_out_acc": 0.75, "env0_in_acc": 0.25},
        {"env1_out_acc": 1.0, "env2_out_acc": 0.5, "env0_in_acc": 0.375}])
    write_run(tmp_path, "h1", test_envs=[0], n_envs=3, hparams_seed=1, accs=[
        {"env1_out_acc": 0.25, "env2_out_acc": 0.25, "env0_in_acc": 0.5},
        {"env1_out_acc": 0.75, "env2_out_acc": 0.75, "env0_in_acc": 0.625}])
    write_run(tmp_path, "pair", test_envs=[0, 1], n_envs=3, hparams_seed=2, accs=[
        {"env1_out_acc": 1.0, "env2_out_acc": 1.0, "env0_in_acc": 1.0}])  # not a test run: ignored
    chosen = choices(TrainingDomainValidation, tmp_path)
    c = chosen[(0, "VLCS", "ERM", 0)]
    assert (c.val_acc, c.test_acc, c.step, c.run.hparams_seed) == (0.75, 0.625, 10, 1)


def test_oracle_takes_the_last_checkpoint_and_hparams_by_test_out_accuracy(tmp_path):
    write_run(tmp_path, "h0", test_envs=[1], hparams_seed=0, accs=[
        {"env1_out_acc": 0.9, "env1_in_acc": 0.9}, {"env1_out_acc": 0.5, "env1_in_acc": 0.25}])
    write_run(tmp_path, "h1", test_envs=[1], hparams_seed=1, accs=[
        {"env1_out_acc": 0.75, "env1_in_acc": 0.625}])
    c = choices(TestDomainOracle, tmp_path)[(0, "VLCS", "ERM", 1)]
    assert (c.val_acc, c.test_acc, c.run.hparams_seed) == (0.75, 0.625, 1)


def test_leave_one_domain_out_validates_on_the_runs_that_held_each_other_env_out(tmp_path):
    # test env 0 of 3: at each step, val = mean(env1_in of run [0,1], env2_in of run [0,2]).
    write_run(tmp_path, "single", test_envs=[0], n_envs=3, accs=[{"env0_in_acc": 0.25}, {"env0_in_acc": 0.5}])
    write_run(tmp_path, "pair01", test_envs=[0, 1], n_envs=3, accs=[{"env1_in_acc": 0.5}, {"env1_in_acc": 0.75}])
    write_run(tmp_path, "pair02", test_envs=[0, 2], n_envs=3, accs=[{"env2_in_acc": 1.0}, {"env2_in_acc": 0.5}])
    c = choices(LeaveOneDomainOut, tmp_path)[(0, "VLCS", "ERM", 0)]
    assert (c.val_acc, c.test_acc, c.step) == (0.75, 0.25, 0)  # (0.5+1.0)/2 beats (0.75+0.5)/2


def test_leave_one_domain_out_has_no_choice_without_two_test_env_runs(tmp_path):
    write_run(tmp_path, "single", test_envs=[0], n_envs=3, accs=[{"env0_in_acc": 0.25}])
    write_run(tmp_path, "pair01", test_envs=[0, 1], n_envs=3, accs=[{"env1_in_acc": 0.5}])
    assert (0, "VLCS", "ERM", 0) not in choices(LeaveOneDomainOut, tmp_path)
    report = make_report([str(tmp_path)], [LeaveOneDomainOut])
    text = renderer("text")(report)
    assert "ERM        X" in text and "needs, for every other training environment, the runs with two" in text


# ---- tables -----------------------------------------------------------------------------

def test_tables_show_mean_and_domainbed_standard_error_avg_and_worst(tmp_path):
    for trial, acc in ((0, 0.5), (1, 0.75)):
        for env, shift in ((0, 0.0), (1, 0.125)):
            write_run(tmp_path, f"t{trial}e{env}", test_envs=[env], n_envs=2, trial_seed=trial,
                      dataset="Toy", accs=[{f"env{env}_in_acc": acc + shift}])
    table = make_report([str(tmp_path)], [TestDomainOracle]).boards[0].tables[0]
    assert table.environments == ["env0", "env1"]  # an unknown dataset: numbered environments
    env0 = table.cells["ERM"][0]
    assert env0.mean == pytest.approx(62.5) and env0.error == pytest.approx(100 * 0.125 / 2 ** 0.5)
    assert table.average("ERM") == pytest.approx((62.5 + 75.0) / 2)
    assert table.worst("ERM") == pytest.approx(62.5)


def test_significance_marks_a_real_difference_and_not_noise(tmp_path):
    from rgd_bench.report.synthetic import synthetic_sweep

    synthetic_sweep(str(tmp_path), datasets=[("VLCS", 4)], algorithms=["ERM", "Same", "Better"],
                    n_hparams=2, n_trials=4, pairs=False,
                    algorithm_offsets={"ERM": 0.0, "Same": 0.0, "Better": 0.15})
    board = make_report([str(tmp_path)], [TestDomainOracle]).boards[0]
    comparisons = board.tables[0].comparisons
    assert comparisons["Better"].significant() and comparisons["Better"].mean_difference > 10
    assert comparisons["Better"].n_pairs == 16  # 4 trials x 4 test envs
    assert not comparisons["Same"].significant()
    row = {line.split()[0]: line for line in renderer("text")(make_report(
        [str(tmp_path)], [TestDomainOracle])).splitlines() if line.startswith(("Better", "Same"))}
    assert re.search(r"\d\*\s+\d", row["Better"]) and "*" not in row["Same"]


def test_paired_t_test_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    from rgd_bench.report.stats import paired_t_test

    a = [0.61, 0.72, 0.55, 0.80, 0.66, 0.59]
    b = [0.58, 0.70, 0.57, 0.71, 0.60, 0.52]
    assert paired_t_test(a, b).p_value == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue, rel=1e-9)
    assert paired_t_test([1.0], [0.0]) is None
    assert paired_t_test([1.0, 2.0], [1.0, 2.0]).p_value == 1.0


def test_sums_and_standard_error_are_numpys_bit_for_bit():
    np = pytest.importorskip("numpy")
    import random

    from rgd_bench.report.stats import np_mean, np_std, standard_error
    rng = random.Random(1)
    for n in (1, 2, 7, 8, 9, 17, 128, 129, 1000):
        values = [rng.random() * 10 ** rng.randint(-3, 3) for _ in range(n)]
        assert np_mean(values) == float(np.mean(values))
        assert np_std(values) == float(np.std(values))
        assert standard_error(values) == float(np.std(np.array(values) / np.sqrt(n)))


def test_sums_across_columns_are_numpys_row_sums_bit_for_bit():
    np = pytest.importorskip("numpy")
    import random

    from rgd_bench.report.stats import np_sum, np_sums_across
    rng = random.Random(2)
    for k in (1, 2, 3, 5, 7, 8, 9, 12):
        columns = [[rng.choice([-0.0, 0.0, rng.random() * 10 ** rng.randint(-8, 3)]) for _ in range(30)]
                   for _ in range(k)]
        got = np_sums_across(columns)
        assert got == [float(np.sum(np.array(row))) for row in zip(*columns)]
        by_rows = [np_sum(row) for row in zip(*columns)]  # signed zeros too
        assert [(v, math.copysign(1, v)) for v in got] == [(v, math.copysign(1, v)) for v in by_rows]


# ---- loading: problems counted, never fatal, never silent ----------------------------------

def test_malformed_unfinished_diverged_and_duplicate_runs_are_each_summarised(tmp_path):
    a, b = tmp_path / "sweep a", tmp_path / "sweep b"
    good = write_run(a, "good", test_envs=[0], accs=[{"env0_in_acc": 0.5}] * 3)
    shutil.copytree(good, b / "copy")  # the same run found twice
    broken = write_run(a, "broken", test_envs=[1], accs=[{"env1_in_acc": 0.5}] * 2)
    with open(os.path.join(broken, "results.jsonl"), "a") as f:
        f.write('{"args": {"algorithm": "ERM", "datas')  # a line cut by a kill
    write_run(a, "running", test_envs=[2], accs=[{}], done=False)
    write_run(a, "diverged", test_envs=[3], accs=[{}, {}], last_extra={"diverged": True, "loss": float("nan")})
    os.makedirs(a / "not_a_run")
    sweep = load_sweeps([str(a), str(b)])
    assert sweep.n_run_dirs == 5
    assert len(sweep.runs) == 3  # good, broken (its good lines), diverged
    assert sweep.n_records == 3 + 2 + 2
    assert (sweep.rejected["malformed JSON"].count, sweep.n_rejected, sweep.unfinished.count,
            sweep.diverged.count, sweep.duplicates.count) == (1, 1, 1, 1, 1)
    notes = sweep.notes()
    assert len(notes) == 4
    assert any("1 malformed JSON" in n and "results.jsonl:3" in n for n in notes)
    assert any("without a 'done' file" in n and "--include_unfinished" in n for n in notes)
    assert len(load_sweeps([str(a)], include_unfinished=True).runs) == 4


def test_parallel_loading_gives_what_sequential_loading_gives(tmp_path, monkeypatch):
    from rgd_bench.report import records
    from rgd_bench.report.synthetic import synthetic_sweep

    synthetic_sweep(str(tmp_path), n_hparams=1, n_trials=2, n_checkpoints=3)
    broken = records.find_run_dirs(str(tmp_path))[-1]
    with open(os.path.join(broken, "results.jsonl"), "a") as f:
        f.write('{"args": {"trunc')
    monkeypatch.setattr(records, "PARALLEL_MIN_RUNS", 2)
    one, two = load_sweeps([str(tmp_path)], workers=1), load_sweeps([str(tmp_path)], workers=2)
    assert [(r.directory, r.columns) for r in one.runs] == [(r.directory, r.columns) for r in two.runs]
    assert (two.n_run_dirs, two.n_records, two.rejected["malformed JSON"].count) == (40, 120, 1)
    assert one.notes() == two.notes()


def test_a_run_with_only_garbage_is_counted_not_fatal(tmp_path):
    os.makedirs(tmp_path / "junk")
    (tmp_path / "junk" / "results.jsonl").write_text("not json\n\n{]\n")
    (tmp_path / "junk" / "done").write_text("done")
    write_run(tmp_path, "ok", test_envs=[0], accs=[{}])
    sweep = load_sweeps([str(tmp_path)])
    assert len(sweep.runs) == 1 and sweep.rejected["malformed JSON"].count == 3
    assert sweep.no_valid_record.examples == [str(tmp_path / "junk")]


def test_a_malformed_first_line_loses_only_itself(tmp_path):
    run_dir = write_run(tmp_path, "r", test_envs=[0], accs=[{"env0_in_acc": 0.25}, {"env0_in_acc": 0.75}])
    path = os.path.join(run_dir, "results.jsonl")
    lines = open(path).read().splitlines()
    with open(path, "w") as f:  # whole-looking JSON, but not a record (no args)
        f.write('{"step": 0}\n' + "\n".join(lines[1:]) + "\n")
    sweep = load_sweeps([str(tmp_path)])
    assert sweep.rejected["not a record"].count == 1 and sweep.no_valid_record.count == 0
    assert list(sweep.runs[0].columns["env0_in_acc"]) == [0.75]


def test_lines_of_other_shapes_fall_back_to_full_parsing(tmp_path):
    run_dir = write_run(tmp_path, "r", test_envs=[0], accs=[{"env0_in_acc": 0.25}, {"env0_in_acc": 0.75}])
    path = os.path.join(run_dir, "results.jsonl")
    lines = [json.loads(line) for line in open(path)]
    with open(path, "w") as f:  # unsorted keys, compact separators
        f.write(json.dumps(lines[0]) + "\n" + json.dumps(lines[1], separators=(",", ":")) + "\n")
    run = load_sweeps([str(tmp_path)]).runs[0]
    assert list(run.columns["env0_in_acc"]) == [0.25, 0.75] and list(run.steps) == [0, 10]


# ---- exports -----------------------------------------------------------------------------

def test_csv_and_json_have_one_row_per_selection_dataset_algorithm_environment(tmp_path):
    from rgd_bench.report.synthetic import synthetic_sweep

    synthetic_sweep(str(tmp_path), datasets=[("VLCS", 4), ("PACS", 4)], algorithms=["ERM", "RGD"],
                    n_hparams=1, n_trials=2, n_checkpoints=2, pairs=False)
    report = make_report([str(tmp_path)], ALL_METHODS)
    rows = json.loads(renderer("json")(report))
    # per method: 2 datasets x 2 algorithms x (4 envs + Avg + Worst) + 2 overall averages
    assert len(rows) == 3 * (2 * 2 * 6 + 2)
    keys = {(r["selection"], r["dataset"], r["algorithm"], r["environment"]) for r in rows}
    assert len(keys) == len(rows)
    csv_lines = renderer("csv")(report).splitlines()
    assert len(csv_lines) == len(rows) + 1 and csv_lines[0].startswith("selection,selection_name,dataset")
    avg = next(r for r in rows if r["selection"] == "oracle" and r["dataset"] == "PACS"
               and r["algorithm"] == "RGD" and r["environment"] == "Avg")
    assert avg["baseline"] == "ERM" and 0 <= avg["p_value"] <= 1 and avg["n_pairs"] == 8


def test_selected_hparams_rerun_command_reproduces_the_chosen_run(tmp_path):
    sweep = tmp_path / "sweep"
    for hparams_seed in (0, 1):
        code = run_module("rgd_bench.train", "--dataset", "SpuriousTabular", "--algorithm", "RGD",
                          "--test_envs", "2", "--hparams_seed", str(hparams_seed), "--steps", "21",
                          "--checkpoint_freq", "10", "--output_dir", str(sweep / f"run{hparams_seed}"),
                          "--skip_model_save").returncode
        assert code == 0
    report = make_report([str(sweep)], [TrainingDomainValidation])
    (entry,) = json.loads(renderer("hparams")(report))
    (trial,) = entry["trials"]
    chosen = load_sweeps([trial["run_dir"]]).runs[0]
    assert trial["hparams"] == chosen.hparams and trial["hparams_seed"] == chosen.hparams_seed
    argv = trial["argv"]
    assert argv[:3] == ["python", "-m", "rgd_bench.train"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])))
    rerun = run_module(*argv[2:], cwd=str(tmp_path), env=env)
    assert rerun.returncode == 0, rerun.stderr
    again = load_sweeps([str(tmp_path / argv[argv.index("--output_dir") + 1])]).runs[0]
    assert again.columns == chosen.columns and again.hparams == chosen.hparams
    assert again.identity() == chosen.identity()


# ---- command line ------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["/no/such/sweep"], "sweep directory '/no/such/sweep' does not exist"),
    (["{tmp}", "--selection", "best"], "--selection: unknown method 'best'; choose from training_domain"),
    (["{tmp}", "--format", "pdf"], "--format: unknown format 'pdf'; choose from text, domainbed"),
    (["{tmp}", "--baseline", "IRM"], "--baseline: 'IRM' has no runs; choose from ERM"),
    (["{empty}"], "no run directory (a folder with results.jsonl) found"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, argv, message):
    sweep, empty = tmp_path / "sweep", tmp_path / "empty"
    write_run(sweep, "r", test_envs=[0], accs=[{}])
    os.makedirs(empty)
    out = tmp_path / "out.md"
    argv = [a.format(tmp=sweep, empty=empty) for a in argv] + ["--output", str(out)]
    result = run_module("rgd_bench.report", *argv)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def report_in_fresh_python(*argv: str) -> list[str]:
    """Run the report in a fresh interpreter; return whether torch and numpy were imported."""
    probe = ("import runpy, sys; sys.argv = ['report', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('rgd_bench.report', run_name='__main__')\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "print('torch' in sys.modules, 'numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split()


def test_tables_import_neither_torch_nor_numpy(tmp_path):
    from rgd_bench.report.synthetic import synthetic_sweep

    synthetic_sweep(str(tmp_path), n_hparams=1, n_trials=2, n_checkpoints=2)
    for fmt in ("text", "domainbed", "markdown", "latex", "csv", "json", "hparams"):
        assert report_in_fresh_python(str(tmp_path), "--format", fmt) == ["False", "False"], fmt


def test_out_dir_writes_every_format_without_torch(tmp_path):
    from rgd_bench.report.synthetic import synthetic_sweep

    synthetic_sweep(str(tmp_path / "sweep"), n_hparams=1, n_trials=2, n_checkpoints=2)
    torch_imported, _ = report_in_fresh_python(str(tmp_path / "sweep"), "--out_dir", str(tmp_path / "out"))
    assert torch_imported == "False"
    written = sorted(os.listdir(tmp_path / "out"))
    assert written == sorted(name for _, _, name in FORMATS.values())
    with open(tmp_path / "out" / "results.txt") as f:
        assert f.read().startswith("Total records: 80\n")  # 2 algorithms x 10 test-env sets x 2 trials x 2


def test_the_example_reports_are_the_default_sweeps_leaderboard():
    from rgd_bench.sweep.cli import DEFAULT_SWEEP
    from rgd_bench.report.cli import DEFAULT_INPUT

    assert os.path.normpath(DEFAULT_SWEEP["output_dir"]) == os.path.normpath(DEFAULT_INPUT)
    from rgd_bench.paper_checks.cli import FULL_REPORT

    reports = os.path.join(REPO_ROOT, "reports")
    # every format of the report, the paper checks' table and the machine that made them; the
    # subpopulation track's, every format and its machine, in subpop/
    assert sorted(os.listdir(reports)) == sorted([*(name for _, _, name in FORMATS.values()),
                                                  os.path.basename(FULL_REPORT), "provenance.json", "subpop"])
    assert sorted(os.listdir(os.path.join(reports, "subpop"))) == sorted(
        [*(name for _, _, name in FORMATS.values()), "provenance.json"])
    with open(os.path.join(reports, "subpop", "leaderboard.md"), encoding="utf-8") as f:
        assert "from 1008 runs in sweep_output/subpop" in f.read()
    with open(os.path.join(reports, "leaderboard.md"), encoding="utf-8") as f:
        markdown = f.read()
    # 5 algorithms x (3 test environments + 3 pairs) x 3 hparams draws x 2 trials
    assert f"from 180 runs in {DEFAULT_SWEEP['output_dir']}" in markdown
    for algorithm in DEFAULT_SWEEP["algorithms"]:
        assert f"| {algorithm} | " in markdown
    with open(os.path.join(reports, "leaderboard.html"), encoding="utf-8") as f:
        assert f.read().count("<svg") >= 3
