"""DomainBed's own algorithms run by rgd_bench's engine (needs a DomainBed checkout on
PYTHONPATH; those tests are skipped otherwise): updates and hyperparameters equal DomainBed's,
runs resume exactly, and what cannot run is refused on one line."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import comparable_records, read_records, run_module
from rgd_bench.hparams import HParam, random_hparams, resolve_hparams, seed_hash
from rgd_bench.registry import ALGORITHMS, DATASETS

MISSING = [m for m in ("domainbed", "timm") if importlib.util.find_spec(m) is None]
needs_domainbed = pytest.mark.skipif(
    bool(MISSING), reason=f"DomainBed's algorithms need a DomainBed checkout on PYTHONPATH and its "
                          f"dependencies; not importable here: {', '.join(MISSING)}")
OURS = {"ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO", "CVaRDRO", "Chi2DRO", "KLDRO", "JTT", "ReWeight",
        "ReSample", "Focal"}
# The module of the classes that wrap DomainBed's algorithms.
ADAPTER_MODULE = "rgd_bench.integrations.from_domainbed"


def adapters() -> list[str]:
    """DomainBed's algorithms registered in rgd_bench (none without DomainBed).  Told apart by
    their module, not by a list of names: a user's installed plugin adds names of its own."""
    return [name for name in ALGORITHMS.names() if ALGORITHMS.get(name).__module__ == ADAPTER_MODULE]


def a_dataset_for(name: str) -> str:
    return "ColoredMNIST5k" if name == "ARM" else "SpuriousTabular"  # ARM needs images


# ---------------------------------------------------------------------------
# Without DomainBed
# ---------------------------------------------------------------------------


def test_a_draw_method_replaces_the_sampler_in_random_hparams():
    class FromSeed(HParam):
        def draw(self, seed, name):
            return (seed, name)

    space = {"a": HParam(1, lambda r: r.randint(100)), "b": FromSeed(0, None)}
    drawn = random_hparams(space, 7)
    assert drawn == {"a": np.random.RandomState(seed_hash(7, "a")).randint(100), "b": (7, "b")}


# A user's algorithm, installed as a package with an entry point: the checks below must hold
# with it too (they check that our names are there and DomainBed's are not, never an exact list).
USER_PLUGIN = """
from rgd_bench.algorithms.erm import ERM
from rgd_bench.registry import ALGORITHMS

@ALGORITHMS.register()
class UsersOwnERM(ERM):
    pass
"""


def _registered_names(tmp_path, fake_domainbed: str | None, user_plugin: bool = False) -> subprocess.CompletedProcess:
    """ALGORITHMS' names and modules (JSON) in a fresh interpreter whose PYTHONPATH has only
    ``fake_domainbed`` and, with ``user_plugin``, an installed distribution registering one more."""
    root = tmp_path / "path"
    root.mkdir()
    if fake_domainbed is not None:
        (root / "domainbed").mkdir()
        (root / "domainbed" / "__init__.py").write_text("")
        (root / "domainbed" / "algorithms.py").write_text(fake_domainbed)
    if user_plugin:
        (root / "users_plugin.py").write_text(USER_PLUGIN)
        (root / "users_plugin-1.0.dist-info").mkdir()
        (root / "users_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: users_plugin\n"
                                                                      "Version: 1.0\n")
        (root / "users_plugin-1.0.dist-info" / "entry_points.txt").write_text(
            "[rgd_bench.algorithms]\nusers = users_plugin\n")
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONWARNINGS="default")
    code = ("import json; from rgd_bench.registry import ALGORITHMS; "
            "print(json.dumps({n: ALGORITHMS.get(n).__module__ for n in ALGORITHMS.names()}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def assert_ours_and_no_domainbed(result: subprocess.CompletedProcess) -> dict[str, str]:
    """Our algorithms are registered and none of DomainBed's; others' plugins may be there too."""
    assert result.returncode == 0, result.stderr
    registered = json.loads(result.stdout)
    assert OURS <= set(registered)
    assert [name for name, module in registered.items() if module == ADAPTER_MODULE] == []
    return registered


@pytest.mark.parametrize("user_plugin", [False, True], ids=["alone", "with_a_users_plugin"])
def test_without_domainbed_only_our_algorithms_and_no_warning(tmp_path, user_plugin):
    result = _registered_names(tmp_path, None, user_plugin)
    registered = assert_ours_and_no_domainbed(result)
    assert ("UsersOwnERM" in registered) == user_plugin  # the plugin was really there
    assert "PluginLoadWarning" not in result.stderr


@pytest.mark.parametrize("user_plugin", [False, True], ids=["alone", "with_a_users_plugin"])
def test_a_domainbed_that_fails_to_import_is_reported_once(tmp_path, user_plugin):
    result = _registered_names(tmp_path, "raise ImportError('no timm here')\n", user_plugin)
    registered = assert_ours_and_no_domainbed(result)
    assert ("UsersOwnERM" in registered) == user_plugin
    warnings = [line for line in result.stderr.splitlines() if "PluginLoadWarning" in line]
    assert len(warnings) == 1
    assert "DomainBed is importable but its algorithms could not be loaded (ImportError: no timm here)" in warnings[0]


# ---------------------------------------------------------------------------
# With DomainBed
# ---------------------------------------------------------------------------


@needs_domainbed
def test_domainbeds_algorithms_are_registered_and_the_rest_explained():
    from domainbed import algorithms

    names = set(ALGORITHMS.names())
    assert {"IRM", "CORAL", "VREx", "Fish", "MMD", "Mixup", "DANN", "CDANN"} <= names
    for name in algorithms.ALGORITHMS:
        if name in OURS:
            assert ALGORITHMS.get(name).__module__.startswith("rgd_bench.algorithms")
        elif name not in names:  # refused: the lookup says why, on one line
            with pytest.raises(KeyError, match=f"DomainBed's {name} cannot run in rgd_bench: ") as error:
                ALGORITHMS.get(name)
            assert "\n" not in error.value.args[0]
    assert "TRM" not in names  # its state is out of reach of checkpoints


def _build_pair(name: str, overrides: dict):
    """DomainBed's own class and rgd_bench's adapter, built from the same seed and hparams."""
    from domainbed import algorithms

    dataset_cls = DATASETS.get(a_dataset_for(name))
    hparams = resolve_hparams(ALGORITHMS.get(name), dataset_cls, 0, 0, {"batch_size": 8, **overrides})
    built = []
    for cls in (getattr(algorithms, name), ALGORITHMS.get(name)):
        torch.manual_seed(0)
        np.random.seed(0)
        built.append(cls(dataset_cls.INPUT_SHAPE, 2, 2, dict(hparams)))
    return dataset_cls, built


def _minibatches(input_shape, step: int):
    generator = torch.Generator().manual_seed(step)
    return [(torch.randn(8, *input_shape, generator=generator), torch.randint(0, 2, (8,), generator=generator))
            for _ in range(2)]


# Penalties start at step 2, so the optimizer resets of IRM and VREx are crossed too.
ANNEAL = {"IRM": {"irm_penalty_anneal_iters": 2}, "VREx": {"vrex_penalty_anneal_iters": 2},
          "IB_IRM": {"irm_penalty_anneal_iters": 2, "ib_penalty_anneal_iters": 2},
          "IB_ERM": {"ib_penalty_anneal_iters": 2}, "EQRM": {"eqrm_burnin_iters": 2}}


@needs_domainbed
@pytest.mark.parametrize("name", adapters())
def test_an_update_is_domainbeds_bit_for_bit(name):
    dataset_cls, (theirs, ours) = _build_pair(name, ANNEAL.get(name, {}))
    for algorithm in (theirs, ours):
        torch.manual_seed(1)
        np.random.seed(1)
        algorithm.values = [algorithm.update(_minibatches(dataset_cls.INPUT_SHAPE, step)) for step in range(4)]
    assert ours.values == [{k: float(v) for k, v in values.items()} for values in theirs.values]
    theirs_state, ours_state = theirs.state_dict(), ours.domainbed.state_dict()
    assert list(theirs_state) == list(ours_state)
    for key, value in theirs_state.items():
        assert torch.equal(value, ours_state[key]), key
    x = _minibatches(dataset_cls.INPUT_SHAPE, 9)[0][0]
    logits = []
    for algorithm in (theirs, ours):
        torch.manual_seed(2)  # MTL's predict draws noise
        logits.append(algorithm.predict(x))
    assert torch.equal(*logits)


@needs_domainbed
@pytest.mark.parametrize("hparams_seed,trial_seed", [(0, 0), (3, 0), (3, 1), (11, 2)])
def test_hparams_are_domainbeds_defaults_and_draws(hparams_seed, trial_seed):
    from domainbed import hparams_registry

    colored_mnist = DATASETS.get("ColoredMNIST")  # a dataset both know
    for name in adapters():
        ours = resolve_hparams(ALGORITHMS.get(name), colored_mnist, hparams_seed, trial_seed)
        if hparams_seed == 0:
            theirs = hparams_registry.default_hparams(name, "ColoredMNIST")
        else:
            theirs = hparams_registry.random_hparams(name, "ColoredMNIST", seed_hash(hparams_seed, trial_seed))
        own_keys = set(theirs) - set(hparams_registry.default_hparams("ERM", "ColoredMNIST"))
        assert own_keys <= set(ours), name
        assert {k: ours[k] for k in theirs if k in ours} == {k: theirs[k] for k in theirs if k in ours}, name


@needs_domainbed
def test_overrides_of_domainbed_hparams_are_checked():
    andmask, tabular = ALGORITHMS.get("ANDMask"), DATASETS.get("SpuriousTabular")
    # DomainBed's tau has an int default (1) and float draws: a float is accepted.
    assert resolve_hparams(andmask, tabular, 0, 0, {"tau": 0.7})["tau"] == 0.7
    with pytest.raises(ValueError, match="The 'irm_lambda' hyperparameter of IRM on SpuriousTabular must be a float"):
        resolve_hparams(ALGORITHMS.get("IRM"), tabular, 0, 0, {"irm_lambda": "big"})


def _irm_argv(out_dir, steps: int, freq: int) -> list[str]:
    return ["--dataset", "SpuriousTabular", "--algorithm", "IRM", "--steps", str(steps),
            "--checkpoint_freq", str(freq), "--output_dir", str(out_dir)]


@needs_domainbed
def test_a_short_irm_run_finishes_with_records(tmp_path, train_in_process):
    code, _, err = train_in_process(*_irm_argv(tmp_path / "run", 30, 10))
    assert code == 0, err
    records = read_records(tmp_path / "run")
    assert [r["step"] for r in records] == [0, 10, 20, 29]
    assert all({"loss", "nll", "penalty", "env0_in_acc", "env2_out_acc"} <= set(r) for r in records)
    assert records[0]["hparams"]["irm_lambda"] == 100.0 and records[0]["args"]["algorithm"] == "IRM"
    assert (tmp_path / "run" / "done").exists()


@needs_domainbed
@pytest.mark.slow
@pytest.mark.parametrize("algorithm,hparams", [
    ("IRM", '{"irm_penalty_anneal_iters": 300}'),  # the penalty starts, and Adam is reset, after the resume
    ("Fish", "{}"),  # inner optimizer state kept as a plain attribute; a clone built every step
    ("ERMPlusPlus", '{"linear_steps": 300}'),  # step counters: the linear probe ends, the average starts at 600
])
def test_killed_run_resumes_to_identical_results(tmp_path, algorithm, hparams):
    from test_train import _kill_mid_way

    def argv(name):
        return ["--dataset", "SpuriousTabular", "--algorithm", algorithm, "--hparams", hparams,
                "--steps", "700", "--checkpoint_freq", "50", "--output_dir", str(tmp_path / name)]

    assert run_module("rgd_bench.train", *argv("once")).returncode == 0
    _kill_mid_way(argv("resumed"), tmp_path / "resumed", 4)
    finished = run_module("rgd_bench.train", *argv("resumed"))
    assert finished.returncode == 0, finished.stderr
    assert "Resuming from the checkpoint at step" in (tmp_path / "resumed" / "out.txt").read_text()

    assert comparable_records(tmp_path / "resumed") == comparable_records(tmp_path / "once")  # every float bit for bit


@needs_domainbed
@pytest.mark.parametrize("argv,message", [
    (["--algorithm", "ARM", "--dataset", "SpuriousTabular"],
     "DomainBed's ARM cannot run on SpuriousTabular: its context network is convolutional"),
    (["--algorithm", "TRM", "--dataset", "SpuriousTabular"], "DomainBed's TRM cannot run in rgd_bench: "),
    (["--algorithm", "IRM", "--dataset", "synthetic_waterbirds"],
     "DomainBed's IRM cannot run on WILDS datasets: their protocol can leave a training domain out of a batch"),
], ids=["ARM-on-tabular", "TRM", "IRM-on-WILDS"])
def test_refused_runs_exit_2_on_one_line(tmp_path, train_in_process, argv, message):
    code, stdout, stderr = train_in_process(*argv, "--output_dir", str(tmp_path / "run"))
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith(f"python -m rgd_bench.train: error: {message}")
    assert not (tmp_path / "run").exists()


@needs_domainbed
def test_a_sweep_refuses_a_refused_pair_before_launching(tmp_path):
    result = run_module("rgd_bench.sweep", "launch", "--datasets", "SpuriousTabular", "--algorithms", "ERM", "ARM",
                        "--output_dir", str(tmp_path / "sweep"), "--skip_confirmation")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DomainBed's ARM cannot run on SpuriousTabular" in result.stderr
    assert not (tmp_path / "sweep").exists()
