"""WILDS's protocol in rgd_bench's engine, run for real on the synthetic WILDS dataset (and
on WILDS's own Waterbirds class reading a tiny on-disk copy): loaders, groups, official
eval, records, eval CSVs, resume, the sweep and the report."""
from __future__ import annotations

import csv
import json
import math

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("wilds", reason="WILDS support needs 'rgd_bench[wilds]'")

from conftest import REPO_ROOT, comparable_records, read_records, run_module  # noqa: E402
from test_train import _kill_mid_way  # noqa: E402
from waterbirds_files import write_tiny_waterbirds  # noqa: E402

from rgd_bench.algorithms.groupdro import GroupDRO  # noqa: E402
from rgd_bench.engine.resolution import resolve  # noqa: E402
from rgd_bench.train import parse  # noqa: E402

SYNTHETIC = ("--dataset", "synthetic_waterbirds")
# The first line of val_eval.csv and test_eval.csv that WILDS's own examples/run_expt.py (WILDS 2.0.0,
# through rgd_bench.integrations.wilds_examples) writes for synthetic_waterbirds; its rows start
# "0,", "1,", ...: the epoch, an int; lines end in "\r\n" (csv's default).
WILDS_EVAL_CSV_HEADER = ("epoch,acc_avg,acc_y:landbird_background:land,count_y:landbird_background:land,"
                         "acc_y:landbird_background:water,count_y:landbird_background:water,"
                         "acc_y:waterbird_background:land,count_y:waterbird_background:land,"
                         "acc_y:waterbird_background:water,count_y:waterbird_background:water,acc_wg")


def resolved(*argv):
    return resolve(parse([*SYNTHETIC, *argv])[0])


def protocol_for(tmp_path, *argv):
    run = resolved("--output_dir", str(tmp_path / "unused"), *argv)
    return run.protocol.open(run)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_records_carry_the_official_eval_and_match_the_eval_csvs(tmp_path, train_in_process):
    out = tmp_path / "run"
    code, _, err = train_in_process(*SYNTHETIC, "--algorithm", "GroupDRO", "--steps", "96",
                                    "--checkpoint_freq", "32", "--output_dir", str(out))
    assert code == 0, err
    records = read_records(out)
    assert [r["step"] for r in records] == [31, 63, 95]  # epoch ends, as WILDS; never after one step
    for record in records:
        assert record["val_metric"] == "acc_wg" and record["val_metric_decreasing"] is False
        assert not any(key.startswith("env") for key in record)
        assert "test_envs" not in record["args"] and "holdout_fraction" not in record["args"]
        for split in ("val", "test"):
            groups = [v for k, v in record.items() if k.startswith(f"{split}_acc_y:")]
            assert len(groups) == 4 and record[f"{split}_acc_wg"] == min(groups)
    for split in ("val", "test"):
        assert (out / f"{split}_eval.csv").read_bytes().startswith(WILDS_EVAL_CSV_HEADER.encode() + b"\r\n")
        rows = read_csv(out / f"{split}_eval.csv")
        assert [r["epoch"] for r in rows] == ["0", "1", "2"]  # WILDS's 0-based epoch, an int
        for row, record in zip(rows, records):
            assert all(float(row[k]) == record[f"{split}_{k}"] for k in row if k != "epoch")
    # out.txt: one block per epoch, full metric names, WILDS's words, fits an 80-column terminal.
    log = (out / "out.txt").read_text(encoding="utf-8")
    blocks = log[log.index("\nEpoch [0], step 31:"):]
    assert all(len(line) <= 80 and "\t" not in line for line in blocks.splitlines()), blocks
    for epoch, record in enumerate(records):
        block = blocks.split(f"Epoch [{epoch}], step {record['step']}:\n")[1].split("\nEpoch [")[0]
        assert f"  loss: {record['loss']:.6g}\n" in block
        assert "Validation (balanced), split val:\nAverage acc: " in block and "Test (balanced), split test:" in block
        assert f"Worst-group acc: {record['test_acc_wg']:.3f}" in block
        assert block.rstrip().endswith(f"Validation acc_wg: {record['val_acc_wg']:.3f}")


def test_group_dro_beats_erm_on_the_worst_group(tmp_path, train_in_process):
    best = {}
    for algorithm in ("ERM", "GroupDRO"):
        out = tmp_path / algorithm
        assert train_in_process(*SYNTHETIC, "--algorithm", algorithm, "--steps", "320", "--checkpoint_freq", "32",
                                "--output_dir", str(out))[0] == 0
        best[algorithm] = max(r["val_acc_wg"] for r in read_records(out))
    # ERM takes the background shortcut; GroupDRO's group-uniform batches do not.
    assert best["ERM"] < 0.3 < 0.5 < best["GroupDRO"]


def test_standard_loader_shuffles_each_epoch(tmp_path):
    protocol = protocol_for(tmp_path, "--algorithm", "ERM", "--hparams", '{"batch_size": 50}').pool
    assert not protocol.uniform_over_groups and len(protocol.train) == 2000
    epochs = [torch.cat([protocol.indices_of(s) for s in range(e * 40, (e + 1) * 40)]) for e in (0, 1)]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(2000))
    assert not torch.equal(epochs[0], epochs[1])
    # A batch across an epoch boundary ends one permutation and starts the next.
    protocol = protocol_for(tmp_path, "--algorithm", "ERM", "--hparams", '{"batch_size": 64}').pool
    first_two_epochs = torch.cat([protocol.indices_of(s) for s in range(63)])[:4000]
    assert sorted(first_two_epochs[:2000].tolist()) == sorted(first_two_epochs[2000:].tolist()) == list(range(2000))


@pytest.mark.parametrize("flag,uniform", [((), True), (("--uniform_over_groups", "false"), False)])
def test_group_dro_draws_groups_uniformly_as_wilds(tmp_path, flag, uniform):
    protocol = protocol_for(tmp_path, "--algorithm", "GroupDRO", *flag).pool
    assert protocol.uniform_over_groups is uniform
    assert protocol.group_sizes.tolist() == [950, 50, 50, 950]  # group = background + 2 * y
    draws = torch.cat([protocol.indices_of(s) for s in range(100)])
    shares = torch.bincount(protocol.groups[draws], minlength=4) / len(draws)
    expected = torch.full((4,), 0.25) if uniform else torch.tensor([0.475, 0.025, 0.025, 0.475])
    assert torch.allclose(shares, expected, atol=0.03)


def test_batches_reach_the_algorithm_one_minibatch_per_group_with_group_ordered_ids(tmp_path):
    for algorithm in ("ALSO", "SGD_HWS"):  # drawn by the protocol / chosen by the algorithm
        plan = resolved("--algorithm", algorithm, "--hparams", '{"also_groups": "example"}'
                        if algorithm == "ALSO" else "{}", "--output_dir", str(tmp_path / "unused"))
        protocol = plan.protocol.open(plan)
        model = plan.algorithm_cls(protocol.input_shape, protocol.num_classes, protocol.num_domains, plan.hparams)
        protocol.prepare(model)
        assert model.forward_groups_together
        minibatches = next(protocol.stream(model, 0))
        assert len(minibatches) == 4 and sum(len(y) for _, y, _ in minibatches) == 64
        bounds = [0, 950, 1000, 1050, 2000]
        inputs = protocol.wilds_dataset.input_tensor()[torch.as_tensor(protocol.train.indices)]
        for g, (x, y, ids) in enumerate(minibatches):
            assert ((ids >= bounds[g]) & (ids < bounds[g + 1])).all()
            assert torch.equal(x, inputs[protocol.pool.order[ids]])
            assert torch.equal(y, torch.as_tensor(protocol.train.y_array)[protocol.pool.order[ids]])


def test_also_inverse_frequency_gets_the_wilds_training_labels(tmp_path):
    """Under WILDS the domains are WILDS's groups: pi over group x class starts at the inverse
    counts of the training split, and at 0 for the cells that never occur."""
    plan = resolved("--algorithm", "ALSO", "--output_dir", str(tmp_path / "unused"), "--hparams",
                    '{"also_groups": "domain_class", "also_pi_init": "inverse_frequency"}')
    protocol = plan.protocol.open(plan)
    model = plan.algorithm_cls(protocol.input_shape, protocol.num_classes, protocol.num_domains, plan.hparams)
    protocol.prepare(model)
    labels = torch.as_tensor(protocol.train.y_array)
    cells = protocol.pool.groups * protocol.num_classes + labels
    counts = torch.bincount(cells, minlength=len(model.pi)).double()
    expected = torch.where(counts > 0, 1 / counts.clamp(min=1), torch.zeros_like(counts))
    assert torch.allclose(model.pi.double(), expected / expected.sum())
    assert (model.pi == 0).sum() == (counts == 0).sum() > 0


def test_group_dro_under_wilds_one_forward_empty_groups_and_absent_groups():
    torch.manual_seed(0)
    hparams = {"lr": 0.0, "weight_decay": 0.0, "batch_size": 4, "mlp_width": 8, "mlp_depth": 2, "mlp_dropout": 0.0,
               "nonlinear_classifier": False, "groupdro_eta": 0.5}
    algorithm = GroupDRO((3,), 2, 4, hparams)
    algorithm.bind_training_examples([5, 0, 7, 2])  # group 1 has no training example
    assert algorithm.q.tolist() == [1.0, 0.0, 1.0, 1.0]
    algorithm.forward_groups_together = True
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    minibatches = [(x[:2], y[:2]), (x[:0], y[:0]), (x[2:5], y[2:5]), (x[:0], y[:0])]  # groups 1, 3 absent
    with torch.no_grad():
        losses = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    l0, l2 = losses[:2].mean(), losses[2:].mean()
    q = torch.tensor([math.exp(0.5 * l0), 0.0, math.exp(0.5 * l2), 1.0])
    q /= q.sum()
    result = algorithm.update(minibatches)
    assert torch.allclose(algorithm.q, q)
    assert result["loss"] == pytest.approx(float(q[0] * l0 + q[2] * l2), rel=1e-6)


def test_killed_wilds_run_resumes_to_identical_records_and_csvs(tmp_path):
    def argv(name):
        return [*SYNTHETIC, "--algorithm", "GroupDRO", "--steps", "1600", "--checkpoint_freq", "100",
                "--output_dir", str(tmp_path / name)]

    assert run_module("rgd_bench.train", *argv("once")).returncode == 0
    _kill_mid_way(argv("resumed"), tmp_path / "resumed", 4)
    finished = run_module("rgd_bench.train", *argv("resumed"))
    assert finished.returncode == 0, finished.stderr

    assert comparable_records(tmp_path / "resumed") == comparable_records(tmp_path / "once")
    for split in ("val", "test"):
        assert read_csv(tmp_path / "resumed" / f"{split}_eval.csv") == read_csv(tmp_path / "once" / f"{split}_eval.csv")


@pytest.mark.parametrize("argv,message", [
    ((*SYNTHETIC, "--test_envs", "1"),
     "--test_envs does not apply to synthetic_waterbirds, a WILDS dataset; it is for DomainBed datasets only."),
    (("--dataset", "SpuriousTabular", "--groupby_fields", "y"),
     "--groupby_fields does not apply to SpuriousTabular, a DomainBed dataset; it is for WILDS datasets only."),
    ((*SYNTHETIC, "--groupby_fields", "colour"),
     "--groupby_fields colour is not a metadata field of synthetic_waterbirds; allowed: background, y, "
     "from_source_domain."),
    ((*SYNTHETIC, "--algorithm", "SGD_HWS", "--uniform_over_groups", "true"),
     "--uniform_over_groups true does not apply to SGD_HWS, which chooses its own training examples"),
    (("--dataset", "civilcomments"), "WILDS dataset 'civilcomments' is not trained by rgd_bench's engine: text"),
    (("--dataset", "waterbirds", "--data_dir", "{tmp}"), "WILDS dataset waterbirds is not in --data_dir"),
])
def test_bad_wilds_arguments_fail_in_one_line_before_writing(tmp_path, train_in_process, argv, message):
    out = tmp_path / "out"
    code, _, err = train_in_process(*(a.replace("{tmp}", str(tmp_path)) for a in argv), "--output_dir", str(out))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_wilds_own_waterbirds_class_trains_from_files_on_disk(tmp_path, train_in_process):
    data_dir = write_tiny_waterbirds(tmp_path / "data")
    out = tmp_path / "run"
    code, _, err = train_in_process(
        "--dataset", "waterbirds", "--data_dir", data_dir, "--algorithm", "GroupDRO",
        "--hparams", '{"resnet18": true, "pretrained": false, "batch_size": 4}', "--steps", "2",
        "--checkpoint_freq", "1", "--output_dir", str(out))
    assert code == 0, err
    records = read_records(out)
    assert [r["step"] for r in records] == [0, 1]  # checkpoint_freq 1: after each step
    assert records[0]["hparams"]["optimizer"] == "sgd" and records[0]["hparams"]["weight_decay"] == 1.0
    assert {"val_acc_wg", "test_acc_wg", "test_adj_acc_avg"} <= set(records[-1])  # Waterbirds' own eval
    assert torch.load(out / "model.pkl", weights_only=False)["model_input_shape"] == (3, 224, 224)


def test_wilds_sweep_and_its_report(tmp_path):
    sweep_dir = tmp_path / "sweep"
    launched = run_module("rgd_bench.sweep", "launch", *("--datasets", "synthetic_waterbirds"),
                          *("--algorithms", "ERM", "GroupDRO"), "--n_hparams", "1", "--n_trials", "2",
                          "--steps", "65", "--checkpoint_freq", "32", "--output_dir", str(sweep_dir),
                          "--launcher", "local", "--skip_confirmation", timeout=600)
    assert launched.returncode == 0, launched.stderr
    runs = [read_records(d) for d in sweep_dir.iterdir() if (d / "done").exists()]
    assert len(runs) == 4 and all("test_envs" not in r[0]["args"] for r in runs)
    report = run_module("rgd_bench.report", str(sweep_dir), "--format", "json")
    assert report.returncode == 0, report.stderr
    rows = {(r["algorithm"], r["environment"]): r for r in json.loads(report.stdout) if r["selection"] == "wilds"}
    for algorithm in ("ERM", "GroupDRO"):
        chosen = []
        for records in runs:
            if records[0]["args"]["algorithm"] == algorithm:
                best = max(records, key=lambda r: r["val_acc_wg"])  # the first among equals
                chosen.append(best["test_acc_wg"])
        assert rows[(algorithm, "test acc_wg")]["mean"] == pytest.approx(100 * sum(chosen) / 2)
        assert rows[(algorithm, "test acc_wg")]["n_trials"] == 2
    # Every file of --out_dir shows the WILDS table; the page draws it (bars, curves).
    written = run_module("rgd_bench.report", str(sweep_dir), "--out_dir", str(tmp_path / "out"))
    assert written.returncode == 0, written.stderr
    wg = f"{rows[('GroupDRO', 'test acc_wg')]['mean']:.1f}"
    for name in ("leaderboard.txt", "results.txt", "leaderboard.md", "leaderboard.tex", "leaderboard.html"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert "synthetic" in text and "acc_wg" in text.replace("\\_", "_") and wg in text, name
    page = (tmp_path / "out" / "leaderboard.html").read_text(encoding="utf-8")
    assert page.split('<section id="wilds">')[1].count("<svg") == 2  # bars, then curves further down


def test_the_wilds_sweep_file_plans_one_job_per_algorithm_and_trial(tmp_path):
    listed = run_module("rgd_bench.sweep", "list", "sweeps/wilds_synthetic.toml", "--output_dir", str(tmp_path),
                        cwd=REPO_ROOT)
    assert listed.returncode == 0, listed.stderr
    jobs = [line for line in listed.stdout.splitlines() if "synthetic_waterbirds" in line]
    assert len(jobs) == 5 * 3 and not any("test_envs" in line for line in jobs)
