"""The engine package: ``rgd_bench.run(RunConfig(...))`` is the command line's run, protocols
own their rules, and importing it leaves torch out (its imports: test_core_imports.py)."""
from __future__ import annotations

import dataclasses
import os

import pytest

from conftest import comparable_records, fresh_python
from test_core_imports import PACKAGE, python_files

from rgd_bench.engine.config import FIELDS, RunConfig
from rgd_bench.engine.protocols import DOMAINBED, PROTOCOL_FLAGS, PROTOCOLS, WILDS, protocol_of
from rgd_bench.engine.resolution import resolve
from rgd_bench.errors import UsageError
from rgd_bench.registry import DATASETS

QUICK = dict(dataset="SpuriousTabular", algorithm="RGD", steps=12, checkpoint_freq=5, skip_model_save=True)


@pytest.mark.slow
def test_run_from_python_records_what_the_command_line_records(tmp_path, train_in_process):
    import rgd_bench

    summary = rgd_bench.run(RunConfig(**QUICK, output_dir=str(tmp_path / "python")), show_progress=False)
    assert summary.status == "done" and summary.steps_run == 12
    argv = ["--dataset", "SpuriousTabular", "--algorithm", "RGD", "--steps", "12", "--checkpoint_freq", "5",
            "--skip_model_save", "--output_dir", str(tmp_path / "cli")]
    code, _, _ = train_in_process(*argv)
    assert code == 0
    ours, theirs = comparable_records(tmp_path / "python"), comparable_records(tmp_path / "cli")
    assert [r["step"] for r in ours] == [0, 5, 10, 11] and ours == theirs
    # the protocol's defaults, filled in, are what the records hold
    assert ours[0]["args"]["test_envs"] == [0] and ours[0]["args"]["holdout_fraction"] == 0.2


def test_a_config_is_frozen_hashable_and_takes_lists_or_mappings():
    config = RunConfig(test_envs=[1, 2], hparams={"lr": 0.01}, plugins=["a.py"])
    assert config.test_envs == (1, 2) and config.hparams == '{"lr": 0.01}' and hash(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 3
    assert config.as_args()["test_envs"] == [1, 2]  # as JSON and the records hold it


def test_an_unknown_flag_names_the_known_ones():
    with pytest.raises(UsageError, match=r"--step is not a flag of the train command; did you mean --steps\? the flags are "):
        RunConfig.from_args({"step": 3})


@pytest.mark.parametrize("changes, message", [
    ({"steps": 0}, "--steps must be a positive integer. Got 0 instead."),
    ({"device": "gpu"}, "--device must be auto, cpu, cuda or cuda:N. Got 'gpu' instead."),
    ({"test_envs": (0, 0)}, "--test_envs 0 0 repeats an environment."),
    ({"holdout_fraction": 1.0}, "--holdout_fraction must be a float in (0, 1). Got 1.0 instead."),
    ({"uniform_over_groups": True}, "--uniform_over_groups does not apply to SpuriousTabular, a DomainBed "
                                    "dataset; it is for WILDS datasets only."),
    ({"dataset": "synthetic_waterbirds", "test_envs": (0,)}, "--test_envs does not apply to synthetic_waterbirds, "
                                                             "a WILDS dataset; it is for DomainBed datasets only."),
    ({"dataset": "synthetic_waterbirds", "algorithm": "SGD_HWS", "uniform_over_groups": "true"},
     "--uniform_over_groups true does not apply to SGD_HWS, which chooses its own training examples"),
    ({"dataset": "synthetic_waterbirds", "uniform_over_groups": "maybe"},
     "--uniform_over_groups must be true or false. Got 'maybe' instead."),
])
def test_resolve_names_the_first_problem_in_one_line(changes, message):
    with pytest.raises(UsageError) as error:
        resolve(RunConfig(**{**QUICK, **changes}))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_each_protocol_fills_its_defaults_and_records_only_its_flags():
    domainbed = resolve(RunConfig(**QUICK))
    assert domainbed.protocol is DOMAINBED and domainbed.config.test_envs == (0,)
    assert {"test_envs", "holdout_fraction"} <= set(domainbed.recorded_args)
    assert not {"groupby_fields", "uniform_over_groups", "device", "num_workers"} & set(domainbed.recorded_args)
    wilds = resolve(RunConfig(**{**QUICK, "dataset": "synthetic_waterbirds", "uniform_over_groups": True}))
    assert wilds.protocol is WILDS and wilds.recorded_args["uniform_over_groups"] == "true"
    assert not {"test_envs", "holdout_fraction"} & set(wilds.recorded_args)


def test_every_registered_dataset_has_a_protocol_and_every_flag_a_field():
    for name in DATASETS.names():
        assert protocol_of(DATASETS.get(name)) in PROTOCOLS.values()
    assert set(PROTOCOL_FLAGS) <= set(FIELDS)


def test_nothing_outside_the_protocols_asks_for_a_protocol_by_name():
    """``protocol_of`` is the one reader of a dataset's ``PROTOCOL``; the protocols' names
    appear nowhere else in a comparison."""
    readers = []
    for path in python_files():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if '"PROTOCOL"' in text or "== \"wilds\"" in text or "== \"domainbed\"" in text:
            readers.append(os.path.relpath(path, PACKAGE))
    assert readers == [os.path.join("engine", "protocols", "__init__.py")]


def test_importing_the_package_and_the_engine_leaves_torch_out():
    probe = ("import sys, rgd_bench, rgd_bench.engine, rgd_bench.engine.protocols, rgd_bench.report\n"
             "from rgd_bench import RunConfig\n"
             "from rgd_bench.engine.resolution import resolve\n"
             "RunConfig(dataset='SpuriousTabular')\n"
             "print('torch' in sys.modules)")
    assert fresh_python(probe) == "False"
