"""RGD's weights and gradient against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from algorithm_fixtures import batches, gradient_of, make, parameters_of
from rgd_bench.algorithms.rgd import RGD, rgd_weights


def test_weights_clip_and_temperature():
    losses = torch.tensor([0.5, 2.0, 0.0])
    assert torch.allclose(rgd_weights(losses, clip=1.0, temperature=1.0),
                          torch.tensor([math.exp(0.5), math.e, 1.0]))
    assert torch.allclose(rgd_weights(losses, clip=1.0, temperature=2.0),
                          torch.tensor([math.exp(0.25), math.exp(0.5), 1.0]))


def test_non_finite_losses_get_the_clipped_weight_not_nan():
    weights = rgd_weights(torch.tensor([float("nan"), float("inf"), 0.3]), clip=2.0, temperature=1.0)
    assert torch.isfinite(weights).all()
    assert torch.allclose(weights, torch.tensor([math.exp(2.0), math.exp(2.0), math.exp(0.3)]))


@pytest.mark.parametrize("rule,expected_t", [("fixed", 1.0), ("clip_plus_one", 1.7)])
def test_step_is_the_unnormalised_weighted_mean_gradient(rule, expected_t):
    algorithm = make(RGD, rgd_clip=0.7, rgd_temperature_rule=rule, rgd_temperature=1.0)
    assert algorithm.temperature == pytest.approx(expected_t)
    mb = batches()
    x = torch.cat([b[0] for b in mb])
    y = torch.cat([b[1] for b in mb])
    with torch.no_grad():
        losses = F.cross_entropy(algorithm.predict(x), y, reduction="none").tolist()
    # By hand: w_i = exp(min(l_i, tau) / T); objective = (1/B) sum_i w_i l_i, no sum(w) normaliser.
    w = torch.tensor([math.exp(min(l, 0.7) / expected_t) for l in losses])
    expected_objective = float((w * torch.tensor(losses)).mean())
    expected_grad = gradient_of(algorithm.network,
                                lambda net: (w * F.cross_entropy(net(x), y, reduction="none")).mean())
    before = parameters_of(algorithm)

    result = algorithm.update(mb)

    assert result["objective"] == pytest.approx(expected_objective, rel=1e-6)
    assert result["loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-6)
    assert result["mean_weight"] == pytest.approx(float(w.mean()), rel=1e-6)
    for p, p0, g in zip(algorithm.network.parameters(), before, expected_grad):
        assert torch.allclose(p - p0, -g, atol=1e-6)  # SGD, lr 1


def test_hard_examples_get_larger_weights_than_under_erm():
    algorithm = make(RGD, rgd_clip=10.0)
    w = rgd_weights(torch.tensor([0.1, 3.0]), 10.0, algorithm.temperature)
    assert w[1] / w[0] == pytest.approx(math.exp(2.9))


def test_adam_and_sgd_are_both_available():
    assert isinstance(make(RGD, optimizer="adam").optimizer, torch.optim.Adam)
    sgd = make(RGD, optimizer="sgd", momentum=0.9).optimizer
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9


def test_random_search_explores_both_temperature_rules():
    from rgd_bench.hparams import random_hparams

    rules = [random_hparams(RGD.hparam_space(None), seed)["rgd_temperature_rule"] for seed in range(1, 41)]
    assert set(rules) == {"fixed", "clip_plus_one"}
    assert 10 <= rules.count("clip_plus_one") <= 30
