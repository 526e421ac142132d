"""RGD, SGD_HWS and ALSO inside WILDS's own examples/run_expt.py.

WILDS's training code is not pip-installed: these tests need the ``examples`` folder of a
WILDS checkout, named by the environment variable RGD_BENCH_WILDS_EXAMPLES
(``git clone https://github.com/p-lambda/wilds`` then ``RGD_BENCH_WILDS_EXAMPLES=wilds/examples``),
and what it imports (``transformers``).  Without them they are skipped, saying why.
"""
from __future__ import annotations

import copy
import csv
import math
import os
import sys
from types import SimpleNamespace

import pytest
import torch

from conftest import run_module

pytest.importorskip("wilds", reason="WILDS support needs 'rgd_bench[wilds]'")

ENV = "RGD_BENCH_WILDS_EXAMPLES"
MODULE = "rgd_bench.integrations.wilds_examples"
NAMES = ("RGD", "SGD_HWS", "ALSO")
PATCHED = ("initialize_algorithm", "get_train_loader", "get_dataset")


@pytest.fixture(scope="module")
def examples_dir() -> str:
    path = os.environ.get(ENV)
    if not path:
        pytest.skip(f"{ENV} is not set: point it at the examples folder of a WILDS checkout")
    if not os.path.isfile(os.path.join(path, "run_expt.py")):
        pytest.skip(f"{ENV}={path!r} has no run_expt.py: it is not WILDS's examples folder")
    return os.path.abspath(path)


@pytest.fixture(scope="module")
def registered(examples_dir):
    """register() in this process; afterwards the examples' modules and our wrappers go."""
    from rgd_bench.integrations import wilds_examples

    saved_path = list(sys.path)
    sys.path.insert(0, examples_dir)
    try:
        wilds_examples.register()
        yield wilds_examples
    except ImportError as error:
        pytest.skip(f"WILDS's examples do not import here: {error}")
    finally:
        sys.path[:] = saved_path
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(examples_dir + os.sep):
                del sys.modules[name]
        for module in list(sys.modules.values()):
            for attr in PATCHED:
                original = getattr(vars(module).get(attr) if hasattr(module, "__dict__") else None,
                                   "rgd_bench_original", None)
                if original is not None:
                    setattr(module, attr, original)


def test_register_adds_the_three_algorithms_with_their_defaults(registered):
    import configs.algorithm
    import configs.supported
    import run_expt

    import algorithms.initializer

    registered.register()  # idempotent
    for name in NAMES:
        assert configs.supported.algorithms.count(name) == 1
    defaults = configs.algorithm.algorithm_defaults
    assert defaults["RGD"]["rgd_clip"] == 1.0 and defaults["RGD"]["rgd_temperature_rule"] == "fixed"
    assert defaults["SGD_HWS"]["train_loader"] == "hardness_weighted" and defaults["SGD_HWS"]["hws_beta"] == 1.0
    assert defaults["ALSO"]["also_mode"] == "optimistic" and defaults["ALSO"]["pi_lr"] == 1e-3
    assert run_expt.initialize_algorithm is algorithms.initializer.initialize_algorithm
    assert run_expt.initialize_algorithm.rgd_bench_original.__module__ == "algorithms.initializer"
    assert run_expt.argparse.rgd_bench_flags


def algorithm(registered, name: str, lr: float = 0.1, weight_decay: float = 0.0,
              present: tuple = (True, True, False, True), **hparams):
    """A WILDS-side algorithm on a 10 -> 2 logistic regression, built as run_expt builds it;
    4 groups, the group of an example being its first metadata column."""
    from losses import initialize_loss

    config = SimpleNamespace(
        algorithm=name, model="logistic_regression", model_kwargs={"in_features": 10},
        pretrained_model_path=None, load_featurizer_only=False, lr=lr, weight_decay=weight_decay,
        optimizer="Adam" if name == "ALSO" else "SGD", optimizer_kwargs={},  # ALSO's own optimizer is an Adam
        max_grad_norm=None, scheduler=None, use_data_parallel=False,
        device=torch.device("cpu"), gradient_accumulation_steps=1, scheduler_metric_name=None,
        no_group_logging=False, **hparams)
    grouper = SimpleNamespace(n_groups=4, metadata_to_group=lambda metadata: metadata[:, 0])
    kwargs = {"is_group_in_train": torch.tensor(present)} if name == "ALSO" else {}
    return registered.algorithm_class(name)(config=config, d_out=2, grouper=grouper,
                                            loss=initialize_loss("cross_entropy", config), metric=None,
                                            n_train_steps=1, **kwargs)


def fixed_logits(model, bias: float) -> None:
    """Every example gets logits (0, bias): CE loss log(1 + e^b) for y=0, log(1 + e^-b) for y=1."""
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([0.0, bias]))


def test_wilds_rgd_objective_is_rgd_weighting_by_hand(registered):
    from rgd_bench.algorithms.rgd import rgd_weights

    rgd = algorithm(registered, "RGD", rgd_clip=1.0, rgd_temperature_rule="fixed", rgd_temperature=1.0)
    fixed_logits(rgd.model, math.log(3.0))
    y = torch.tensor([0, 1])
    results = {"y_pred": rgd.model(torch.randn(2, 10)), "y_true": y}
    # y=0: loss ln 4 > tau = 1, weight e^1; y=1: loss ln(4/3) < 1, weight e^ln(4/3) = 4/3.
    by_hand = (math.e * math.log(4.0) + 4.0 / 3.0 * math.log(4.0 / 3.0)) / 2
    assert rgd.objective(results).item() == pytest.approx(by_hand, rel=1e-6)
    losses = torch.tensor([math.log(4.0), math.log(4.0 / 3.0)])
    assert rgd.objective(results).item() == pytest.approx((rgd_weights(losses, 1.0, 1.0) * losses).mean().item())

    mild = algorithm(registered, "RGD", rgd_clip=1.0, rgd_temperature_rule="clip_plus_one", rgd_temperature=1.0)
    fixed_logits(mild.model, math.log(3.0))
    by_hand = (math.exp(0.5) * math.log(4.0) + math.sqrt(4.0 / 3.0) * math.log(4.0 / 3.0)) / 2  # T = tau + 1
    assert mild.objective(results).item() == pytest.approx(by_hand, rel=1e-6)


def test_wilds_also_objective_weighs_train_groups_by_pi(registered):
    also = algorithm(registered, "ALSO", pi_lr=1e-3, pi_decay=1e-2, pi_temperature=1.0,
                     also_mode="optimistic", also_alpha=1.0)
    assert also.pi.tolist() == pytest.approx([1 / 3] * 3)  # group 2 is absent from the training split
    fixed_logits(also.model, math.log(3.0))
    results = {"y_pred": also.model(torch.randn(3, 10)), "y_true": torch.tensor([0, 1, 0]),
               "g": torch.tensor([0, 3, 2])}
    # sum_i pi[g_i] * (c / B) * l_i with c = 3, B = 3: (ln 4 + ln 4/3) / 3, the absent group weighs 0.
    assert also.objective(results).item() == pytest.approx((math.log(4.0) + math.log(4.0 / 3.0)) / 3, rel=1e-6)


@pytest.mark.parametrize("name", ["RGD", "ALSO"])
def test_wilds_steps_are_rgd_benchs_steps(registered, name):
    """Two steps of the WILDS-side algorithm and of rgd_bench's, from the same linear model on
    the same batches (rgd_bench's domains = WILDS's groups), end at the same parameters."""
    from algorithm_fixtures import BASE_HPARAMS

    from rgd_bench.algorithms.also import ALSO, CoupledAdam
    from rgd_bench.algorithms.rgd import RGD
    from rgd_bench.hparams import default_hparams

    cls = {"RGD": RGD, "ALSO": ALSO}[name]
    hparams = {**default_hparams(cls.hparam_space(None)), **BASE_HPARAMS, "lr": 0.05, "weight_decay": 0.01,
               "rgd_clip": 0.5, "pi_lr": 0.5}  # a large pi_lr, so that pi visibly moves
    wilds_side = algorithm(registered, name, lr=hparams["lr"], weight_decay=hparams["weight_decay"],
                           present=(True,) * 4, **{k: hparams[k] for k in registered.HPARAM_NAMES[name]})
    ours = cls((10,), 2, 4, hparams)
    ours.network = copy.deepcopy(wilds_side.model)
    ours.optimizer = (CoupledAdam(ours.network.parameters(), lr=hparams["lr"], weight_decay=hparams["weight_decay"])
                      if name == "ALSO" else
                      torch.optim.SGD(ours.network.parameters(), lr=hparams["lr"], weight_decay=hparams["weight_decay"]))
    wilds_side.train()
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        minibatches = [(torch.randn(3, 10, generator=generator), torch.randint(0, 2, (3,), generator=generator))
                       for _ in range(4)]
        ours.update(minibatches)
        domains = torch.arange(4).repeat_interleave(3)[:, None]
        wilds_side.update((torch.cat([x for x, _ in minibatches]), torch.cat([y for _, y in minibatches]), domains))
    for mine, theirs in zip(ours.network.parameters(), wilds_side.model.parameters()):
        assert torch.allclose(mine, theirs, atol=1e-6)
    if name == "ALSO":
        assert torch.allclose(ours.pi, wilds_side.pi, atol=1e-7) and not torch.allclose(ours.pi, torch.full((4,), 0.25))


def test_hardness_weighted_loader_carries_the_drawn_positions():
    from rgd_bench.integrations.wilds_examples import HWS_LOADER, _get_train_loader
    from rgd_bench.datasets.wilds_synthetic import SyntheticWaterbirds

    train = SyntheticWaterbirds().get_subset("train")
    loader = _get_train_loader(lambda *args, **kwargs: None)(HWS_LOADER, train, batch_size=64)
    drawn = torch.tensor([7, 7, 1500, 3])
    loader.batch_sampler.bind(SimpleNamespace(sample_examples=lambda count, generator: drawn[:count].numpy()))
    assert len(loader) == math.ceil(len(train) / 64)
    x, y, metadata, ids = next(iter(loader))
    assert ids.tolist() == drawn.tolist()
    assert torch.equal(x, torch.stack([train[i][0] for i in drawn.tolist()]))
    assert torch.equal(metadata, train.metadata_array[drawn])


def test_hardness_weighted_loader_draws_each_batch_after_the_previous_step():
    """With num_workers=0 (SGD_HWS's default) the k-th batch is drawn after k updates."""
    from rgd_bench.integrations.wilds_examples import HWS_LOADER, _get_train_loader
    from rgd_bench.datasets.wilds_synthetic import SyntheticWaterbirds

    train = SyntheticWaterbirds().get_subset("train")
    steps, draws_after = [0], []

    def sample_examples(count, generator):
        draws_after.append(steps[0])
        return torch.zeros(count, dtype=torch.long).numpy()

    loader = _get_train_loader(None)(HWS_LOADER, train, batch_size=64, num_workers=0)
    loader.batch_sampler.bind(SimpleNamespace(sample_examples=sample_examples))
    for _ in loader:
        steps[0] += 1
    assert draws_after == list(range(len(loader)))


def read_csv(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_run_expt_trains_each_algorithm_on_synthetic_waterbirds(examples_dir, name, tmp_path):
    log_dir = tmp_path / "logs"
    result = run_module(MODULE, "--examples_dir", examples_dir, "--dataset", "synthetic_waterbirds",
                        "--algorithm", name, "--root_dir", str(tmp_path), "--log_dir", str(log_dir),
                        "--n_epochs", "2")
    if result.returncode == 2 and "not importable" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Algorithm: {name}\n" in (log_dir / "log.txt").read_text()
    for split in ("train", "val", "test"):
        rows = read_csv(log_dir / f"{split}_eval.csv")
        assert [int(float(r["epoch"])) for r in rows] == [0, 1]
        assert all(0.0 <= float(r["acc_wg"]) <= float(r["acc_avg"]) <= 1.0 for r in rows)
    state = torch.load(log_dir / "synthetic_waterbirds_seed:0_epoch:last_model.pth", weights_only=False)["algorithm"]
    if name == "SGD_HWS":
        history = state["loss_history"]
        assert history.shape == (2000,) and history.min() < 10.0  # drawn examples hold their losses
        drawn = read_csv(log_dir / "train_algo.csv")[-1]  # examples drawn per group in epoch 1
        # Epoch 0 is the warm-start permutation (every example once); by epoch 1 the two
        # minority groups (50 of 2000 examples each), the hard ones, are drawn far above their share.
        assert int(float(drawn["epoch"])) == 1
        assert float(drawn["count_group:1"]) + float(drawn["count_group:2"]) > 200
    if name == "ALSO":
        assert state["pi"].shape == (4,) and state["pi"].sum().item() == pytest.approx(1.0)


@pytest.mark.slow
def test_sgd_hws_refuses_a_loader_that_does_not_draw_for_it(examples_dir, tmp_path):
    result = run_module(MODULE, "--examples_dir", examples_dir, "--dataset", "synthetic_waterbirds",
                        "--algorithm", "SGD_HWS", "--train_loader", "standard", "--root_dir", str(tmp_path),
                        "--log_dir", str(tmp_path / "logs"), "--n_epochs", "1")
    if result.returncode == 2 and "not importable" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "its train loader must be 'hardness_weighted' (its default). Got --train_loader standard instead.")


@pytest.mark.parametrize("argv, message", [
    ([], "--examples_dir PATH is required"),
    (["--examples_dir", "/no/such/dir"], "is not WILDS's examples folder (it has no run_expt.py)"),
])
def test_a_missing_or_wrong_examples_dir_is_one_line_and_exit_2(argv, message):
    result = run_module(MODULE, *argv, "--dataset", "synthetic_waterbirds", "--algorithm", "RGD")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
