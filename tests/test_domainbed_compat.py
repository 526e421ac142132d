"""Our run directories read by DomainBed's own collect_results (needs a DomainBed
checkout on PYTHONPATH with its dependencies, wilds and timm; skipped otherwise)."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from conftest import domainbed_env, read_records
from mnist_files import write_torchvision_mnist

MISSING = [m for m in ("domainbed", "wilds", "timm") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"DomainBed compatibility needs a DomainBed checkout on PYTHONPATH and its "
                          f"dependencies; not importable here: {', '.join(MISSING)}")


def test_domainbed_collect_results_reads_our_runs(tmp_path, train_in_process):
    from rgd_bench.datasets.mnist import shipped_mnist_digits

    images, labels = shipped_mnist_digits()
    write_torchvision_mnist(tmp_path / "data", images, labels, n_train=4000)
    sweep = tmp_path / "sweep"
    last_acc = {}
    for test_env in (0, 1):
        run_dir = sweep / f"run_test_env_{test_env}"
        code, _, err = train_in_process(
            "--dataset", "ColoredMNIST", "--data_dir", str(tmp_path / "data"), "--algorithm", "ERM",
            "--steps", "3", "--checkpoint_freq", "2", "--test_envs", str(test_env),
            "--skip_model_save", "--output_dir", str(run_dir))
        assert code == 0, err
        last_acc[test_env] = read_records(run_dir)[-1][f"env{test_env}_in_acc"]

    result = subprocess.run(
        [sys.executable, "-m", "domainbed.scripts.collect_results", "--input_dir", str(sweep)],
        capture_output=True, text=True, timeout=300, env=domainbed_env())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Total records: 4" in out
    oracle = out.split("Dataset: ColoredMNIST, model selection method: test-domain validation set (oracle)")[1]
    erm_row = next(line for line in oracle.splitlines() if line.startswith("ERM"))
    cells = re.split(r"\s{2,}", erm_row.strip())
    # Oracle selection = last checkpoint; one trial, so the standard error is 0.
    assert cells[1] == f"{100 * last_acc[0]:.1f} +/- 0.0"
    assert cells[2] == f"{100 * last_acc[1]:.1f} +/- 0.0"
    assert cells[3] == "X"  # no run with test env 2


def test_report_domainbed_format_equals_collect_results_on_a_multi_algorithm_sweep(tmp_path):
    from rgd_bench.report import SELECTION_METHODS, make_report
    from rgd_bench.report.formats import renderer
    from rgd_bench.report.synthetic import synthetic_sweep

    # Two DomainBed datasets, DomainBed algorithms given out of DomainBed's order and two it does
    # not know (listed in directory order), pairs of test envs for leave-one-domain-out.
    synthetic_sweep(str(tmp_path), datasets=[("PACS", 4), ("VLCS", 4)],
                    algorithms=["IRM", "RGD", "ERM", "ALSO", "GroupDRO"], n_hparams=3, n_trials=2, n_checkpoints=4)
    result = subprocess.run(
        [sys.executable, "-m", "domainbed.scripts.collect_results", "--input_dir", str(tmp_path)],
        capture_output=True, text=True, env=domainbed_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    ours = renderer("domainbed")(make_report([str(tmp_path)], list(SELECTION_METHODS.values())))
    assert ours == result.stdout


def test_register_adds_our_algorithms_and_hparams_to_domainbeds_registries():
    from domainbed import algorithms, hparams_registry

    from rgd_bench.hparams import random_hparams
    from rgd_bench.integrations.into_domainbed import register
    from rgd_bench.integrations.into_domainbed_networks import domainbed_flavoured, domainbed_network
    from rgd_bench.registry import ALGORITHMS

    register()
    register()  # idempotent
    also = algorithms.get_algorithm_class("ALSO")
    assert algorithms.ALGORITHMS.count("RGD") == 1 and also is domainbed_flavoured(ALGORITHMS.get("ALSO"))
    assert issubclass(also, ALGORITHMS.get("ALSO")) and also.__name__ == "ALSO"
    assert all(algorithms.get_algorithm_class(name).build_network is domainbed_network
               for name in ("RGD", "SGD_HWS", "ALSO"))  # DomainBed's networks, as its ERM
    defaults = hparams_registry.default_hparams("RGD", "Debug28")
    assert defaults["rgd_clip"] == 1.0 and defaults["lr"] == hparams_registry.default_hparams("ERM", "Debug28")["lr"]
    drawn = hparams_registry.random_hparams("RGD", "Debug28", 12345)
    erm_drawn = hparams_registry.random_hparams("ERM", "Debug28", 12345)
    assert {k: drawn[k] for k in erm_drawn} == erm_drawn  # DomainBed's own keys: DomainBed's draws
    ours = random_hparams(ALGORITHMS.get("RGD").hparam_space(None), 12345)
    assert drawn["rgd_clip"] == ours["rgd_clip"] != 1.0


def test_domainbeds_sweep_runs_our_algorithms_and_collect_results_lists_them(tmp_path):
    sweep = tmp_path / "sweep"
    argv = [sys.executable, "-m", "rgd_bench.integrations.into_domainbed", "sweep", "launch", "--datasets", "Debug28",
            "--algorithms", "ERM", "RGD", "ALSO", "--n_hparams", "1", "--n_trials", "1", "--single_test_envs",
            "--steps", "6", "--hparams", '{"batch_size": 8}', "--data_dir", str(tmp_path / "data"),
            "--output_dir", str(sweep), "--command_launcher", "local", "--skip_confirmation"]
    result = subprocess.run(argv, capture_output=True, text=True, env=domainbed_env(), timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(runs) == 9 and all((p / "done").exists() for p in runs)
    algorithms = {read_records(str(p))[-1]["args"]["algorithm"] for p in runs}
    assert algorithms == {"ERM", "RGD", "ALSO"}
    table = subprocess.run([sys.executable, "-m", "rgd_bench.integrations.into_domainbed", "collect_results",
                            "--input_dir", str(sweep)], capture_output=True, text=True, env=domainbed_env(),
                           timeout=300)
    assert table.returncode == 0, table.stderr[-2000:]
    rows = [line.split()[0] for line in table.stdout.splitlines() if line.split()[:1] in (["ERM"], ["RGD"], ["ALSO"])]
    assert rows[:3] == ["ERM", "RGD", "ALSO"]  # DomainBed's own order: its ALGORITHMS, ours appended


def test_sgd_hws_trains_in_domainbeds_loop_with_its_own_sampling(tmp_path):
    import torch

    out = tmp_path / "hws"
    argv = [sys.executable, "-m", "rgd_bench.integrations.into_domainbed", "train", "--algorithm", "SGD_HWS",
            "--dataset", "Debug28", "--steps", "11", "--checkpoint_freq", "5", "--hparams", '{"batch_size": 8}',
            "--data_dir", str(tmp_path / "data"), "--output_dir", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, env=domainbed_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["step"] for r in read_records(str(out))] == [0, 5, 10]
    history = torch.load(out / "model.pkl", weights_only=False)["model_dict"]["loss_history"]
    assert len(history) == 26  # Debug28: 2 training environments x 13 in-split examples
    assert bool((history < 10.0).all())  # every example trained on, its loss recorded
