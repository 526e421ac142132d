"""The paper checks: scores per seed, the interval and the verdict by hand; the shipped
sweep files; and the command end to end on its quick tabular check."""
from __future__ import annotations

import math
import os
import tomllib
from array import array

import pytest

from rgd_bench.algorithms.hws import PAPER_HPARAMS
from rgd_bench.paper_checks.claims import CLAIMS, LAST_STEP, Arm, Claim
from rgd_bench.paper_checks.cli import sweep_file
from rgd_bench.paper_checks.measure import NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, confidence_interval, judge
from rgd_bench.report.records import Run
from rgd_bench.sweep.cli import load_sweep_file


def run(algorithm, trial, accs, dataset="D", test_envs=(1,), hparams=None, val=None):
    """A run with one checkpoint per value of ``accs`` (env1's in-split accuracy)."""
    val = val or [0.5] * len(accs)
    columns = {"step": array("d", range(len(accs))), "env0_in_acc": array("d", val), "env0_out_acc": array("d", val),
               "env1_in_acc": array("d", accs), "env1_out_acc": array("d", accs)}
    args = {"dataset": dataset, "algorithm": algorithm, "test_envs": list(test_envs), "trial_seed": trial,
            "hparams_seed": 0}
    return Run(f"/{algorithm}/{trial}", args, hparams or {}, columns, True, False)


def claim(score=LAST_STEP, method=Arm("M", "M"), datasets=("D",), paper_value=None):
    return Claim("k", "p", "n", "s", ("hws_mnist_erm",), datasets, method, Arm("B", "B"), score=score, env=1,
                 paper_value=paper_value)


def test_interval_is_students_t_by_hand():
    interval = confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.7764451
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert (interval.mean, interval.n) == (3.0, 5)
    assert interval.low == pytest.approx(3 - half, abs=1e-6) and interval.high == pytest.approx(3 + half, abs=1e-6)
    assert confidence_interval([1.0]) is None


def test_last_step_scores_are_paired_by_seed():
    runs = [run("M", t, [0.0, 0.5 + 0.01 * t]) for t in range(5)] + [run("B", t, [0.9, 0.1]) for t in range(5)]
    outcome = judge(claim(), runs)
    # last checkpoint: method 50 + t points, baseline 10: differences 40..44
    assert outcome.difference.mean == pytest.approx(42.0)
    assert outcome.verdict == REPRODUCED
    # the interval is 42 +/- 2.776 * sd 1.58 / sqrt 5 = [40.04, 43.96]
    assert judge(claim(paper_value=43.0), runs).why.endswith("the paper's +43 is inside the interval")
    assert judge(claim(paper_value=1.44), runs).why.endswith("the paper's +1.44 is outside the interval")
    flipped = judge(claim(method=Arm("B", "B")), runs)  # B against itself: all differences 0
    assert flipped.verdict == NOT_REPRODUCED and "holds 0" in flipped.why


def test_a_worse_method_and_too_few_seeds():
    runs = [run("M", t, [0.1 + 0.01 * t]) for t in range(3)] + [run("B", t, [0.6]) for t in range(3)]
    worse = judge(claim(), runs)
    assert worse.verdict == NOT_REPRODUCED and "below 0" in worse.why
    lone = judge(claim(), [run("M", 0, [0.9]), run("B", 0, [0.1]), run("B", 1, [0.1])])
    assert lone.verdict == NOT_TESTABLE and lone.difference is None


def test_selected_scores_use_training_domain_validation():
    """Two hyperparameter draws per seed: validation picks the one with the better env0."""
    runs = []
    for t in range(4):
        runs.append(run("M", t, [0.2], val=[0.9]))  # picked: validation 0.9
        runs.append(run("M", t, [0.99], val=[0.1]))  # better test, worse validation: not picked
        runs.append(run("B", t, [0.1 + 0.01 * t], val=[0.5]))
    outcome = judge(claim(score="selected"), runs)
    assert outcome.method.mean == pytest.approx(20.0)
    assert outcome.difference.mean == pytest.approx(20.0 - 11.5)


def test_arms_select_runs_by_hyperparameter():
    arm = Arm("HWS 10", "SGD_HWS", {"hws_beta": 10.0})
    assert arm.holds(run("SGD_HWS", 0, [0.5], hparams={"hws_beta": 10.0}))
    assert not arm.holds(run("SGD_HWS", 0, [0.5], hparams={"hws_beta": 1.0}))
    assert not arm.holds(run("ERM", 0, [0.5], hparams={"hws_beta": 10.0}))


def test_a_seed_missing_a_dataset_is_left_out_not_averaged_over_less():
    c = claim(datasets=("D", "E"))
    runs = [run("M", t, [0.8], dataset=d) for t in range(3) for d in "DE"] + [run("M", 3, [0.8], dataset="D")]
    runs += [run("B", t, [0.4], dataset=d) for t in range(4) for d in "DE"]
    outcome = judge(c, runs)
    assert outcome.method.n == 3 and outcome.difference.n == 3


@pytest.mark.parametrize("name", sorted({s for c in CLAIMS for s in c.sweeps}))
def test_shipped_sweep_files_plan_and_follow_the_papers_setup(name):
    path = sweep_file(name)
    settings = load_sweep_file(path)
    assert settings["n_trials"] >= 5  # the minimum number of seeds
    if name.startswith("hws"):
        with open(path, "rb") as f:
            import json
            hparams = json.loads(tomllib.load(f)["hparams"])
        assert {k: hparams[k] for k in PAPER_HPARAMS} == PAPER_HPARAMS


def test_every_claim_reads_sweeps_that_exist():
    for c in CLAIMS:
        for name in c.sweeps:
            assert os.path.isfile(sweep_file(name)), name


@pytest.mark.slow
def test_quick_tabular_check_end_to_end_and_resumes(cli, tmp_path):
    out, report = tmp_path / "out", tmp_path / "checks.md"
    result = cli("rgd_bench.paper_checks", "--quick", "--checks", "tabular", "--output_dir", str(out),
                 "--report", str(report))
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert "RGD beats ERM on tabular classification" in text and "ALSO beats GroupDRO" in text
    assert "nan" not in text.lower()
    rows = [line for line in text.splitlines() if line.startswith("| RGD beats ERM on tabular")]
    assert len(rows) == 1 and "(n=2)" in rows[0]
    again = cli("rgd_bench.paper_checks", "--quick", "--checks", "tabular", "--output_dir", str(out),
                "--report", str(report))
    assert again.returncode == 0 and "0 to run" in again.stdout  # every job done: nothing retrained
    assert report.read_text().split("\n", 3)[3] == text.split("\n", 3)[3]  # same table, same numbers
