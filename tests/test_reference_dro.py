"""The label-free baselines against their authors' code, on the same toy batches: the
parameters after each step agree.  Needs checkouts of SubpopBench (``RGD_BENCH_SUBPOPBENCH``,
with ``transformers`` importable, as its modules import it) and of fast-dro
(``RGD_BENCH_FAST_DRO``); each group of tests is skipped without its checkout.

    RGD_BENCH_SUBPOPBENCH=/path/SubpopBench RGD_BENCH_FAST_DRO=/path/fast-dro pytest tests/test_reference_dro.py

SubpopBench trains with SGD (momentum 0.9) and weight decay: both sides do here, for three
steps, so momentum and decay are exercised.  fast-dro's ``RobustLoss`` is applied to the same
per-example losses, with the same network and optimizer."""
from __future__ import annotations

import collections
import collections.abc
import copy
import importlib
import importlib.util
import os
import sys

import pytest
import torch
import torch.nn.functional as F

from algorithm_fixtures import make
from rgd_bench.algorithms.chi2_dro import chi2_weights
from rgd_bench.algorithms.cvar_dro import cvar_weights

SUBPOPBENCH = os.environ.get("RGD_BENCH_SUBPOPBENCH")
FAST_DRO = os.environ.get("RGD_BENCH_FAST_DRO")
needs_subpopbench = pytest.mark.skipif(
    not SUBPOPBENCH or importlib.util.find_spec("transformers") is None,
    reason="needs a SubpopBench checkout in RGD_BENCH_SUBPOPBENCH and transformers importable")
needs_fast_dro = pytest.mark.skipif(not FAST_DRO, reason="needs a fast-dro checkout in RGD_BENCH_FAST_DRO")

OPTIMIZER = {"optimizer": "sgd", "momentum": 0.9, "lr": 0.1, "weight_decay": 1e-3}
NUM_ATTRIBUTES = 2
STEPS = 3


def toy_batch(step: int):
    """8 examples of 3 features, 2 classes x 2 attributes, sorted by group (y * 2 + a), ids 0..7."""
    generator = torch.Generator().manual_seed(100 + step)
    x = torch.randn(8, 3, generator=generator)
    y = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    a = torch.tensor([0, 0, 0, 1, 1, 0, 1, 1])
    return torch.arange(8), x, y, a


def by_group(i, x, y, a):
    """Our minibatches: one per group, in group order (empty ones included), with ids."""
    g = y * NUM_ATTRIBUTES + a
    return [(x[g == k], y[g == k], i[g == k]) for k in range(2 * NUM_ATTRIBUTES)]


def subpopbench():
    sys.path.insert(0, SUBPOPBENCH)
    try:
        return importlib.import_module("subpopbench.learning.algorithms")
    finally:
        sys.path.remove(SUBPOPBENCH)


def theirs_like(ours_network, their_network) -> None:
    """Give SubpopBench's network our initial parameters (same architecture, same order)."""
    with torch.no_grad():
        for mine, their in zip(ours_network.parameters(), their_network.parameters(), strict=True):
            their.copy_(mine)


def assert_same(ours_network, their_network):
    for mine, their in zip(ours_network.parameters(), their_network.parameters(), strict=True):
        assert torch.allclose(mine, their, rtol=1e-5, atol=1e-6), (mine - their).abs().max()


GROUP_SIZES = [3, 2, 1, 2]

SUBPOPBENCH_CASES = {
    # name: (our hparams, SubpopBench's hparams)
    "ERM": ({}, {}),
    "CVaRDRO": ({"joint_dro_alpha": 0.3}, {"joint_dro_alpha": 0.3}),
    "Focal": ({"gamma": 2.0}, {"gamma": 2.0}),
    "ReWeight": ({}, {}),
    "ReSample": ({}, {}),
}


@needs_subpopbench
@pytest.mark.parametrize("name", SUBPOPBENCH_CASES)
def test_steps_equal_subpopbenchs(name):
    from rgd_bench.registry import ALGORITHMS

    ours_hparams, their_hparams = SUBPOPBENCH_CASES[name]
    ours = make(ALGORITHMS.get(name), num_domains=4, **OPTIMIZER, **ours_hparams)
    ours.bind_training_examples(GROUP_SIZES)
    hparams = {**ours.hparams, **their_hparams, "steps": STEPS}
    theirs = getattr(subpopbench(), name)("images", (3,), 2, NUM_ATTRIBUTES, sum(GROUP_SIZES), hparams,
                                          GROUP_SIZES)
    theirs_like(ours.network, theirs.network)
    for step in range(STEPS):
        i, x, y, a = toy_batch(step)
        mine = ours.update(by_group(i, x, y, a))
        their = theirs.update((i, x, y, a), step)
        assert_same(ours.network, theirs.network)
        if name != "ReWeight":  # SubpopBench's ReWeight reports its weighted loss, ours the plain mean
            assert mine.get("objective", mine["loss"]) == pytest.approx(their["loss"], rel=1e-5)


@needs_subpopbench
def test_jtt_steps_equal_subpopbenchs():
    from rgd_bench.algorithms.jtt import JTT

    steps = 6
    ours = make(JTT, num_domains=4, first_stage_step_frac=0.5, jtt_lambda=7.0, **OPTIMIZER)
    ours.bind_training_examples(GROUP_SIZES)
    ours.bind_total_steps(steps)
    theirs = subpopbench().JTT("images", (3,), 2, NUM_ATTRIBUTES, 8, {**ours.hparams, "steps": steps})
    theirs_like(ours.identification_network, theirs.stage1_model.network)
    theirs_like(ours.network, theirs.stage2_model.network)
    for step in range(steps):
        # The second stage sees the same 8 examples at each step: SubpopBench judges an example
        # afresh each time it comes, rgd_bench once, which agree on unchanged inputs.
        i, x, y, a = toy_batch(step if step < 3 else 0)
        ours.update(by_group(i, x, y, a))
        theirs.update((i, x, y, a), step)
        assert_same(ours.identification_network, theirs.stage1_model.network)
        assert_same(ours.network, theirs.stage2_model.network)
    assert ours.error_set.sum() > 0  # the comparison covered up-weighted examples


def fast_dro():
    """fast-dro's ``robust_losses``; its ``datasets`` module still imports ``collections.Mapping``,
    which Python 3.10 moved to ``collections.abc``."""
    if not hasattr(collections, "Mapping"):
        collections.Mapping = collections.abc.Mapping
    saved = {name: sys.modules.pop(name) for name in ("utils", "datasets") if name in sys.modules}
    sys.path.insert(0, FAST_DRO)
    try:
        return importlib.import_module("robust_losses")
    finally:
        sys.path.remove(FAST_DRO)
        for name in ("utils", "datasets", "robust_losses"):
            sys.modules.pop(name, None)
        sys.modules.update(saved)


FAST_DRO_CASES = {
    # id: (our algorithm, our hparams, RobustLoss(size, reg, geometry))
    "cvar-0.3": ("CVaRDRO", {"joint_dro_alpha": 0.3}, (0.3, 0.0, "cvar")),
    "cvar-0.05": ("CVaRDRO", {"joint_dro_alpha": 0.05}, (0.05, 0.0, "cvar")),
    "chi2-constrained": ("Chi2DRO", {"chi2_formulation": "constrained", "chi2_rho": 1.0}, (1.0, 0.0, "chi-square")),
    "chi2-constrained-small": ("Chi2DRO", {"chi2_formulation": "constrained", "chi2_rho": 0.1},
                               (0.1, 0.0, "chi-square")),
    "chi2-penalized": ("Chi2DRO", {"chi2_formulation": "penalized", "chi2_lambda": 0.05},
                       (float("inf"), 0.05, "chi-square")),
    "chi2-penalized-strong": ("Chi2DRO", {"chi2_formulation": "penalized", "chi2_lambda": 1.0},
                              (float("inf"), 1.0, "chi-square")),
}


@needs_fast_dro
@pytest.mark.parametrize("case", FAST_DRO_CASES)
def test_steps_equal_fast_dros_robust_loss(case):
    from rgd_bench.registry import ALGORITHMS

    name, hparams, robust_args = FAST_DRO_CASES[case]
    robust_loss = fast_dro().RobustLoss(*robust_args)
    ours = make(ALGORITHMS.get(name), **OPTIMIZER, **hparams)
    network = copy.deepcopy(ours.network)
    optimizer = torch.optim.SGD(network.parameters(), lr=OPTIMIZER["lr"], momentum=OPTIMIZER["momentum"],
                                weight_decay=OPTIMIZER["weight_decay"])
    for step in range(STEPS):
        _, x, y, _ = toy_batch(step)
        losses = F.cross_entropy(network(x), y, reduction="none")
        reference = robust_loss(losses)
        optimizer.zero_grad()
        reference.backward()
        optimizer.step()
        values = ours.update([(x, y)])
        assert values["objective"] == pytest.approx(reference.item(), rel=1e-5)
        for mine, their in zip(ours.network.parameters(), network.parameters(), strict=True):
            assert torch.allclose(mine, their, rtol=1e-5, atol=1e-6)


@needs_fast_dro
@pytest.mark.parametrize("size", [0.1, 0.5, 1.0, 5.0])
@pytest.mark.parametrize("seed", range(5))
def test_chi2_and_cvar_weights_equal_fast_dros_best_response(size, seed):
    losses = torch.rand(32, generator=torch.Generator().manual_seed(seed)) * 3
    module = fast_dro()
    constrained = module.RobustLoss(size, 0.0, "chi-square").best_response(losses)
    assert torch.equal(chi2_weights(losses, "constrained", size, 0.0), constrained)
    penalized = module.RobustLoss(float("inf"), size, "chi-square").best_response(losses)
    assert torch.equal(chi2_weights(losses, "penalized", 1.0, size), penalized)
    if size <= 1:
        assert torch.equal(cvar_weights(losses, size), module.RobustLoss(size, 0.0, "cvar").best_response(losses))
