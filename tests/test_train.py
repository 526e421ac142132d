"""The training engine end to end: records, determinism, resume, bad input, divergence."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import comparable_records, read_records, run_module, without_machine_keys
from rgd_bench.algorithms.erm import ERM
from rgd_bench.registry import ALGORITHMS

TABULAR = ("--dataset", "SpuriousTabular")


def test_run_writes_domainbed_records(tmp_path, train_in_process):
    out = tmp_path / "run"
    code, stdout, _ = train_in_process(*TABULAR, "--algorithm", "ERM", "--steps", "301",
                                       "--checkpoint_freq", "100", "--output_dir", str(out))
    assert code == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == [0, 100, 200, 300]
    for line, record in zip(lines, records):
        assert line == json.dumps(record, sort_keys=True)  # sorted keys, one object per line
        expected = {"args", "hparams", "step", "epoch", "step_time", "mem_gb", "loss"}
        expected |= {f"env{i}_{s}_acc" for i in range(3) for s in ("in", "out")}
        assert set(record) == expected
        # in-splits hold 800 examples; batch 64: DomainBed's epoch = step / (800 / 64)
        assert record["epoch"] == pytest.approx(record["step"] * 64 / 800)
        assert record["args"]["dataset"] == "SpuriousTabular" and record["args"]["test_envs"] == [0]
        assert "device" not in record["args"]  # execution flags are not part of the run's identity
        assert record["hparams"]["lr"] == 1e-3
    # It learned: the core + spurious features separate the training environments well.
    assert records[-1]["env1_out_acc"] > 0.8 and records[0]["env1_out_acc"] < 0.7
    assert records[-1]["loss"] < records[0]["loss"]
    assert (out / "done").read_text() == "done"
    assert not (out / "checkpoint.pt").exists()
    assert "env0_in_acc" in (out / "out.txt").read_text()
    assert (out / "err.txt").exists()
    model = torch.load(out / "model.pkl", weights_only=True)
    assert model["model_num_domains"] == 2 and "network.0.input.weight" in model["model_dict"]


def test_complete_run_is_not_run_again(tmp_path, train_in_process):
    argv = (*TABULAR, "--steps", "3", "--output_dir", str(tmp_path / "run"))
    assert train_in_process(*argv)[0] == 0
    before = (tmp_path / "run" / "results.jsonl").read_text()
    code, _, err = train_in_process(*argv)
    assert code == 0 and "already complete" in err
    assert (tmp_path / "run" / "results.jsonl").read_text() == before


def test_same_seed_same_records_and_other_seed_differs(tmp_path, train_in_process):
    def records(name, seed):
        argv = (*TABULAR, "--algorithm", "GroupDRO", "--steps", "30", "--checkpoint_freq", "10",
                "--seed", seed, "--output_dir", str(tmp_path / name))
        assert train_in_process(*argv)[0] == 0
        return without_machine_keys([{**r, "args": None} for r in read_records(tmp_path / name)])

    assert records("a", "0") == records("b", "0")
    assert records("a2", "0") != records("c", "1")


def _kill_mid_way(argv: list[str], out_dir, min_records: int) -> None:
    """Start a training subprocess and SIGKILL it once ``min_records`` records and a
    checkpoint exist."""
    process = subprocess.Popen([sys.executable, "-m", "rgd_bench.train", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out_dir / "results.jsonl"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if (results.exists() and len(results.read_text().splitlines()) >= min_records
                    and (out_dir / "checkpoint.pt").exists()):
                break
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not (out_dir / "done").exists()


@pytest.mark.slow
@pytest.mark.parametrize("dataset,algorithm,hparams,steps,freq,kill_after", [
    ("SpuriousTabular", "GroupDRO", "{}", 2000, 100, 5),
    ("ColoredMNIST5k", "ERM", "{}", 7, 3, 1),
    # loss history and sum tree; pi over every example with the optimistic memory; Adam
    ("SpuriousTabular", "SGD_HWS", '{"hws_staleness_correction": true}', 1500, 100, 4),
    ("SpuriousTabular", "ALSO", '{"also_groups": "example"}', 1500, 100, 4),
    ("SpuriousTabular", "RGD", '{"rgd_temperature_rule": "clip_plus_one"}', 1500, 100, 4),
    # killed in the second stage (from step 300), its error set part-built
    ("SpuriousTabular", "JTT", '{"first_stage_step_frac": 0.2}', 1500, 100, 5),
    ("SpuriousTabular", "Chi2DRO", '{"chi2_formulation": "penalized"}', 1500, 100, 4),
], ids=["GroupDRO", "ERM-ColoredMNIST5k", "SGD_HWS", "ALSO-example", "RGD", "JTT-second-stage", "Chi2DRO"])
def test_killed_run_resumes_to_identical_results(tmp_path, dataset, algorithm, hparams, steps, freq, kill_after):
    def argv(name):
        return ["--dataset", dataset, "--algorithm", algorithm, "--hparams", hparams, "--steps", str(steps),
                "--checkpoint_freq", str(freq), "--output_dir", str(tmp_path / name)]

    assert run_module("rgd_bench.train", *argv("once")).returncode == 0
    _kill_mid_way(argv("resumed"), tmp_path / "resumed", kill_after)
    finished = run_module("rgd_bench.train", *argv("resumed"))
    assert finished.returncode == 0, finished.stderr
    assert "Resuming from the checkpoint at step" in (tmp_path / "resumed" / "out.txt").read_text()

    once, resumed = comparable_records(tmp_path / "once"), comparable_records(tmp_path / "resumed")
    assert [r["step"] for r in resumed] == [r["step"] for r in once]
    assert resumed == once  # every float bit for bit


@pytest.fixture
def diverging_algorithm():
    @ALGORITHMS.register("DivergesAtStep2")
    class DivergesAtStep2(ERM):
        def __init__(self, *args):
            super().__init__(*args)
            self.calls = 0

        def update(self, minibatches, unlabeled=None):
            result = super().update(minibatches, unlabeled)
            self.calls += 1
            return {"loss": math.nan} if self.calls == 3 else result

    yield "DivergesAtStep2"
    ALGORITHMS._items.pop("DivergesAtStep2")


def test_non_finite_loss_stops_with_a_diverged_record(tmp_path, train_in_process, diverging_algorithm):
    out = tmp_path / "run"
    code, _, err = train_in_process(*TABULAR, "--algorithm", diverging_algorithm, "--steps", "50",
                                    "--checkpoint_freq", "10", "--output_dir", str(out))
    assert code == 0
    records = read_records(out)
    assert [r["step"] for r in records] == [0, 2]
    assert records[-1]["diverged"] is True and "diverged" not in records[0]
    assert "diverged at step 2" in err and "loss=nan" in err
    assert (out / "done").exists() and not (out / "model.pkl").exists()


BAD_INPUTS = [
    (("--dataset", "ColoredMNIST5kk"), "Did you mean 'ColoredMNIST5k'"),
    (("--algorithm", "ERN"), "Unknown algorithm 'ERN'"),
    (("--test_envs", "3"), "--test_envs 3 is out of range"),
    (("--test_envs", "0", "1", "2"), "leaves no training environment"),
    (("--hparams", "{lr: 1}"), "--hparams must be a JSON object"),
    (("--hparams", "[1]"), "--hparams must be a JSON object"),
    (("--hparams", '{"lrr": 0.1}'), "Unknown hyperparameter 'lrr'"),
    (("--hparams", '{"lr": "fast"}'), "The 'lr' hyperparameter"),
    (("--hparams", '{"lr": -1}'), "must be a positive float. Got -1"),
    (("--hparams", '{"batch_size": 0}'), "must be an integer in 1..65536. Got 0 instead."),
    (("--steps", "0"), "argument --steps: must be a positive integer. Got '0' instead."),
    (("--checkpoint_freq", "-5"), "argument --checkpoint_freq: must be a positive integer"),
    (("--holdout_fraction", "1.5"), "argument --holdout_fraction: must be a float in (0, 1). Got '1.5'"),
    # DomainBed divides by the size of the held-out split: 0 is refused, as is a fraction too small
    # to hold out one example of a 1,000-example environment.
    (("--holdout_fraction", "0.0"), "argument --holdout_fraction: must be a float in (0, 1). Got '0.0'"),
    (("--holdout_fraction", "0.0001"), "leaves environment 0 (+90%) of SpuriousTabular, which has 1000 examples, "
                                       "with an empty out split"),
    (("--hparams", '{"batch_size": 801}'), "larger than the training split of environment 1"),
    (("--test_envs", "x"), "argument --test_envs: must be an integer >= 0. Got 'x' instead."),
    (("--device", "tpu"), "argument --device: must be auto, cpu, cuda or cuda:N"),
    (("--seed", "-1"), "argument --seed: must be an integer in 0..4294967295"),
    (("--num_workers", "-1"), "argument --num_workers: must be an integer >= 0"),
    # Hyperparameters are checked against their declared ranges, network shapes included.
    (("--hparams", '{"mlp_dropout": 2.0}'), "'mlp_dropout' hyperparameter of ERM on SpuriousTabular must be "
                                           "a float in [0, 1). Got 2.0 instead."),
    (("--hparams", '{"weight_decay": -1.0}'), "'weight_decay' hyperparameter of ERM on SpuriousTabular must be "
                                             "a float >= 0. Got -1.0"),
    (("--algorithm", "RGD", "--hparams", '{"optimizer": "sgd", "momentum": -1.0}'),
     "'momentum' hyperparameter of RGD on SpuriousTabular must be a float in [0, 1)"),
    (("--hparams", '{"mlp_width": 100000}'), "'mlp_width' hyperparameter of ERM on SpuriousTabular must be an "
                                            "integer in 1..16384"),
    (("--hparams", '{"mlp_depth": 1}'), "must be an integer in 2..64. Got 1"),
    (("--hparams", '{"batch_size": 1e9}'), "'batch_size' hyperparameter of ERM on SpuriousTabular must be an "
                                          "integer in 1..65536"),
    (("--algorithm", "ALSO", "--hparams", '{"pi_decay": -5.0}'), "'pi_decay' hyperparameter of ALSO on "
                                                                 "SpuriousTabular must be a float >= 0"),
    (("--algorithm", "SGD_HWS", "--hparams", '{"hws_is_clip_max": 0.5}'), "must be a float >= 1"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, train_in_process, argv, message):
    out = tmp_path / "run"
    code, stdout, err = train_in_process(*TABULAR, *argv, "--output_dir", str(out))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_missing_data_dir_says_how_to_get_the_data(tmp_path, train_in_process):
    code, _, err = train_in_process("--dataset", "ColoredMNIST", "--output_dir", str(tmp_path / "r"))
    assert code == 2 and "--data_dir is required for ColoredMNIST" in err and "ColoredMNIST5k" in err
    code, _, err = train_in_process("--dataset", "PACS", "--data_dir", str(tmp_path / "nowhere"),
                                    "--output_dir", str(tmp_path / "r"))
    assert code == 2 and "domainbed.scripts.download" in err
    assert not (tmp_path / "r").exists()


def test_unwritable_output_dir(tmp_path, train_in_process):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, err = train_in_process(*TABULAR, "--output_dir", str(blocker / "run"))
    assert code == 2 and "cannot be written" in err
    code, _, err = train_in_process(*TABULAR, "--output_dir", str(blocker))
    assert code == 2 and "is not a directory" in err


def test_resuming_with_other_arguments_is_refused(tmp_path, train_in_process):
    out = str(tmp_path / "run")
    assert train_in_process(*TABULAR, "--steps", "3", "--skip_model_save", "--output_dir", out)[0] == 0
    os.remove(os.path.join(out, "done"))
    before = open(os.path.join(out, "results.jsonl")).read()
    code, _, err = train_in_process(*TABULAR, "--steps", "5", "--output_dir", out)
    assert code == 2 and "other arguments" in err and "steps" in err
    assert open(os.path.join(out, "results.jsonl")).read() == before


def test_cli_subprocess_error_has_no_traceback(tmp_path):
    result = run_module("rgd_bench.train", "--dataset", "Nope", "--output_dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("python -m rgd_bench.train: error: Unknown dataset 'Nope'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_image_folder_run_is_identical_with_and_without_loader_workers(tmp_path, train_in_process):
    from image_tree import PACS_ENVS, make_image_tree

    make_image_tree(tmp_path / "data" / "PACS", PACS_ENVS)

    def records(name, workers):
        code, _, err = train_in_process(
            "--dataset", "PACS", "--data_dir", str(tmp_path / "data"), "--algorithm", "GroupDRO",
            "--hparams", '{"pretrained": false, "resnet18": true, "batch_size": 2}',
            "--steps", "3", "--checkpoint_freq", "2", "--num_workers", workers,
            "--skip_model_save", "--output_dir", str(tmp_path / name))
        assert code == 0, err
        found = without_machine_keys(read_records(tmp_path / name))
        for r in found:
            r["args"].pop("output_dir")
        return found

    in_process = records("workers0", "0")
    assert [r["step"] for r in in_process] == [0, 2]
    assert in_process == records("workers2", "2")  # augmentation seeded per item, not per worker
