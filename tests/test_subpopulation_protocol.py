"""The subpopulation protocol, run for real on its offline datasets: data, groups and batches
as --train_attr says, records, resume, bad input, and the sweep's attribute axis."""
from __future__ import annotations

import collections

import pytest
import torch

from conftest import comparable_records, read_records, run_module
from test_bad_input import one_line
from test_train import _kill_mid_way
from rgd_bench.engine.resolution import resolve
from rgd_bench.registry import DATASETS
from rgd_bench.sweep.plan import SweepSpec, plan_jobs
from rgd_bench.train import parse

TABULAR = ("--dataset", "SpuriousTabularGroups")


def resolved(*argv):
    return resolve(parse([*argv, "--output_dir", "unused"])[0])


def opened(*argv):
    run = resolved(*argv)
    return run, run.protocol.open(run)


def group_counts(dataset, split):
    s = dataset.splits[split]
    return dict(sorted(collections.Counter((s.y * dataset.num_attributes + s.a).tolist()).items()))


# ---- datasets -----------------------------------------------------------------------------------

def test_offline_datasets_have_fixed_groups():
    build = {name: DATASETS.get(name)(None, None, {}) for name in
             ("SpuriousTabularGroups", "ColoredMNIST5kGroups", "ImbalancedMNIST5k", "synthetic_waterbirds_groups")}
    # label x spurious sign: 90% agreement in train, balanced val and test
    assert group_counts(build["SpuriousTabularGroups"], "train") == {0: 857, 1: 124, 2: 98, 3: 921}
    assert len(build["SpuriousTabularGroups"].splits["test"].y) == 1000
    # label x colour, the same 80% agreement everywhere
    assert group_counts(build["ColoredMNIST5kGroups"], "train") == {0: 1228, 1: 292, 2: 313, 3: 1167}
    # classes only: 3 threes among 300 of each other digit; 100 of each digit to validate and test
    imbalanced = build["ImbalancedMNIST5k"]
    assert imbalanced.num_attributes == 1 and imbalanced.ATTRIBUTE is None
    assert group_counts(imbalanced, "train") == {**{d: 300 for d in range(10) if d != 3}, 3: 3}
    assert set(group_counts(imbalanced, "val").values()) == set(group_counts(imbalanced, "test").values()) == {100}
    # WILDS's groups: background x bird
    assert group_counts(build["synthetic_waterbirds_groups"], "train") == {0: 950, 1: 50, 2: 50, 3: 950}
    assert build["synthetic_waterbirds_groups"].group_names()[1] == "y=landbird, a=water"


def test_the_colour_is_the_channel_the_digit_is_drawn_in():
    dataset = DATASETS.get("ColoredMNIST5kGroups")(None, None, {})
    split = dataset.splits["val"]
    x = split.data.tensors[0].view(-1, 2, 14, 14)
    lit = (x.flatten(2).sum(2) > 0).long()  # (n, 2): which channels hold ink
    assert torch.equal(lit[:, 1], split.a) and torch.equal(lit[:, 0], 1 - split.a)
    agreement = (split.a == split.y).float().mean().item()
    assert 0.75 < agreement < 0.85  # colour = label flipped with probability 0.2


def test_datasets_are_the_same_at_every_build():
    a, b = (DATASETS.get("ImbalancedMNIST5k")(None, None, {}) for _ in range(2))
    assert torch.equal(a.splits["train"].data.tensors[0], b.splits["train"].data.tensors[0])


# ---- groups and batches as --train_attr says ------------------------------------------------------

@pytest.mark.parametrize("train_attr,n_groups", [("yes", 4), ("no", 2)])
def test_train_attr_decides_the_groups_algorithms_see(train_attr, n_groups):
    run, data = opened(*TABULAR, "--algorithm", "GroupDRO", "--train_attr", train_attr)
    algorithm = run.algorithm_cls(data.input_shape, data.num_classes, data.num_domains, run.hparams)
    data.prepare(algorithm)
    assert data.num_domains == len(algorithm.q) == n_groups and algorithm.forward_groups_together
    minibatches = next(data.stream(algorithm, 0))
    assert len(minibatches) == n_groups and sum(len(y) for _, y, _ in minibatches) == run.hparams["batch_size"]
    if train_attr == "no":  # the classes
        assert all((y == g).all() for g, (_, y, _) in enumerate(minibatches))


@pytest.mark.parametrize("algorithm,balanced", [("ReSample", True), ("GroupDRO", False), ("ERM", False)])
def test_only_resample_draws_groups_uniformly_as_subpopbench(algorithm, balanced):
    _, data = opened(*TABULAR, "--algorithm", algorithm)
    draws = torch.cat([data.pool.indices_of(step) for step in range(200)])
    shares = torch.bincount(data.pool.groups[draws], minlength=4) / len(draws)
    expected = torch.full((4,), 0.25) if balanced else torch.tensor([857, 124, 98, 921]) / 2000
    assert torch.allclose(shares.float(), expected.float(), atol=0.02)


def test_metrics_use_the_true_groups_whatever_training_knew(tmp_path, train_in_process):
    out = tmp_path / "run"
    code, _, err = train_in_process(*TABULAR, "--algorithm", "ERM", "--train_attr", "no", "--steps", "21",
                                    "--checkpoint_freq", "10", "--output_dir", str(out))
    assert code == 0, err
    records = read_records(out)
    assert [r["step"] for r in records] == [0, 10, 20]
    last = records[-1]
    assert last["protocol"] == "subpopulation" and last["args"]["train_attr"] == "no"
    for split in ("train", "val", "test"):
        groups = [k for k in last if k.startswith(f"{split}_acc_y")]
        assert groups == [f"{split}_acc_y{y}_a{a}" for y in (0, 1) for a in (0, 1)]
        assert last[f"{split}_worst_group_acc"] == min(last[k] for k in groups)
        assert 0 <= last[f"{split}_ece"] <= 1 and 0 <= last[f"{split}_auroc"] <= 1
    assert "test   avg_acc" in (out / "out.txt").read_text()


@pytest.mark.slow
def test_a_killed_run_resumes_to_identical_records(tmp_path):
    def argv(name):
        return [*TABULAR, "--algorithm", "JTT", "--train_attr", "no", "--steps", "1500", "--checkpoint_freq", "100",
                "--output_dir", str(tmp_path / name)]

    assert run_module("rgd_bench.train", *argv("once")).returncode == 0
    _kill_mid_way(argv("resumed"), tmp_path / "resumed", 9)
    assert run_module("rgd_bench.train", *argv("resumed")).returncode == 0
    assert comparable_records(tmp_path / "resumed") == comparable_records(tmp_path / "once")


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    ((*TABULAR, "--train_attr", "maybe"), "argument --train_attr: must be yes or no. Got 'maybe' instead."),
    (("--dataset", "SpuriousTabular", "--train_attr", "yes"),
     "--train_attr does not apply to SpuriousTabular, a DomainBed dataset; it is for subpopulation datasets only."),
    ((*TABULAR, "--test_envs", "1"),
     "--test_envs does not apply to SpuriousTabularGroups, a subpopulation dataset; it is for DomainBed datasets only."),
    ((*TABULAR, "--uniform_over_groups", "true"), "--uniform_over_groups does not apply to SpuriousTabularGroups"),
])
def test_bad_flags_are_one_line(tmp_path, cli, argv, message):
    err = one_line(cli("rgd_bench.train", *argv, "--output_dir", str(tmp_path / "run")))
    assert message in err
    assert not (tmp_path / "run").exists()


# ---- the sweep's attribute axis -------------------------------------------------------------------

def test_the_sweep_runs_each_attribute_setting_once_and_attribute_free_datasets_once(tmp_path):
    spec = SweepSpec(datasets=["SpuriousTabularGroups", "ImbalancedMNIST5k"], algorithms=["ERM", "GroupDRO"],
                     output_dir=str(tmp_path), n_hparams=1, n_trials=2)
    jobs = plan_jobs(spec)
    settings = collections.Counter((j.train_args["dataset"], j.train_args["train_attr"]) for j in jobs)
    assert settings == {("SpuriousTabularGroups", "yes"): 4, ("SpuriousTabularGroups", "no"): 4,
                        ("ImbalancedMNIST5k", "no"): 4}
    assert len({j.job_id for j in jobs}) == len(jobs)
    # the same seed in both settings: the comparison of the two is paired
    seeds = {(j.train_args["algorithm"], j.train_args["trial_seed"], j.train_args["train_attr"]): j.train_args["seed"]
             for j in jobs if j.train_args["dataset"] == "SpuriousTabularGroups"}
    assert seeds[("ERM", 0, "yes")] == seeds[("ERM", 0, "no")]
    only_yes = plan_jobs(SweepSpec(datasets=["SpuriousTabularGroups"], algorithms=["ERM"], output_dir=str(tmp_path),
                                   n_hparams=1, n_trials=1, train_attr=["yes"]))
    assert [j.train_args["train_attr"] for j in only_yes] == ["yes"]


@pytest.mark.parametrize("content,message", [
    ('train_attr = ["maybe"]\n', "The key 'train_attr' in {path!r} must be a non-empty list of"),
    ('[train_args]\ntrain_attr = "no"\n', "[train_args] sets 'train_attr', which the sweep sets for each job itself; "
                                          "set the sweep key 'train_attr' instead."),
])
def test_bad_attribute_settings_in_a_sweep_file_are_one_line(tmp_path, cli, content, message):
    path = tmp_path / "sweep.toml"
    path.write_text(f'datasets = ["SpuriousTabularGroups"]\nalgorithms = ["ERM"]\noutput_dir = "{tmp_path / "out"}"\n'
                    + content)
    err = one_line(cli("rgd_bench.sweep", "launch", str(path), "--launcher", "dry_run"))
    assert message.format(path=str(path)) in err
    assert not (tmp_path / "out").exists()


def test_the_shipped_sweep_file_plans_its_stated_jobs():
    from conftest import REPO_ROOT
    from rgd_bench.sweep.cli import load_sweep_file, spec_from

    path = f"{REPO_ROOT}/sweeps/subpop.toml"
    jobs = plan_jobs(spec_from(load_sweep_file(path)))
    assert len(jobs) == 1008 and "1,008 runs" in open(path, encoding="utf-8").read()
    settings = collections.Counter((j.train_args["dataset"], j.train_args["train_attr"]) for j in jobs)
    assert settings[("ColoredMNIST5kGroups", "no")] == settings[("ImbalancedMNIST5k", "no")] == 12 * 4 * 3
    assert ("ImbalancedMNIST5k", "yes") not in settings


def test_wilds_waterbirds_trains_under_the_subpopulation_protocol_from_files_on_disk(tmp_path, train_in_process):
    pytest.importorskip("wilds", reason="WILDS support needs 'rgd_bench[wilds]'")
    from waterbirds_files import write_tiny_waterbirds

    data_dir = write_tiny_waterbirds(tmp_path / "data")
    dataset = DATASETS.get("waterbirds_groups")(data_dir, None, {})
    # WILDS's official groups: bird x place, its own names; 9 of the 24 images train
    assert dataset.group_names() == ["y=landbird, a=land", "y=landbird, a=water", "y=waterbird, a=land",
                                     "y=waterbird, a=water"]
    assert sum(group_counts(dataset, "train").values()) == len(dataset.splits["train"].y)
    out = tmp_path / "run"
    code, _, err = train_in_process(
        "--dataset", "waterbirds_groups", "--data_dir", data_dir, "--algorithm", "ReWeight", "--train_attr", "yes",
        "--hparams", '{"resnet18": true, "pretrained": false, "batch_size": 4}', "--steps", "2",
        "--checkpoint_freq", "1", "--output_dir", str(out))
    assert code == 0, err
    records = read_records(out)
    assert [r["step"] for r in records] == [0, 1] and records[0]["hparams"]["optimizer"] == "sgd"
    assert {"val_worst_group_acc", "test_acc_y1_a0", "train_ece"} <= set(records[-1])


def test_on_disk_datasets_without_their_files_fail_in_one_line(tmp_path, cli):
    pytest.importorskip("wilds", reason="WILDS support needs 'rgd_bench[wilds]'")
    err = one_line(cli("rgd_bench.train", "--dataset", "celebA_groups", "--data_dir", str(tmp_path),
                       "--output_dir", str(tmp_path / "run")))
    assert "WILDS dataset celebA is not in --data_dir" in err
