"""SGD-HWS: the sum-tree sampler follows softmax(beta * L); the history and the step."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from algorithm_fixtures import batches, gradient_of, make, parameters_of
from rgd_bench.algorithms._softmax_sampler import SoftmaxSampler
from rgd_bench.algorithms.hws import SGD_HWS


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def test_sampling_frequencies_follow_softmax_chi_square():
    rng = np.random.default_rng(0)
    losses = rng.uniform(0, 3, size=37)  # not a power of two: padded leaves must never be drawn
    sampler = SoftmaxSampler(losses, beta=1.5)
    expected = softmax(1.5 * losses)
    assert np.allclose(sampler.probabilities(), expected)
    draws = sampler.sample(rng.random(200_000))
    assert draws.min() >= 0 and draws.max() < 37
    counts = np.bincount(draws, minlength=37)
    statistic, p_value = chisquare(counts, expected * len(draws))
    assert p_value > 1e-3, (statistic, p_value)


def test_sampling_a_wrong_distribution_is_detected():
    """The chi-square check has power: uniform draws fail it against softmax(beta * L)."""
    rng = np.random.default_rng(1)
    losses = rng.uniform(0, 3, size=37)
    uniform_counts = np.bincount(rng.integers(0, 37, 200_000), minlength=37)
    assert chisquare(uniform_counts, softmax(1.5 * losses) * 200_000)[1] < 1e-6


def test_hard_examples_are_drawn_more():
    losses = np.full(1000, 0.1)
    losses[:10] = 3.0  # 10 hard examples
    sampler = SoftmaxSampler(losses, beta=2.0)
    draws = sampler.sample(np.random.default_rng(0).random(10_000))
    hard_share = np.mean(draws < 10)
    expected = 10 * math.exp(6.0) / (10 * math.exp(6.0) + 990 * math.exp(0.2))
    assert hard_share == pytest.approx(expected, abs=0.02)
    assert hard_share > 10 * 0.01  # far above their 1% share under uniform sampling


def test_updates_match_a_rebuilt_tree_bit_for_bit():
    rng = np.random.default_rng(2)
    sampler = SoftmaxSampler(np.full(100, 10.0), beta=3.0)
    for _ in range(200):
        ids = rng.integers(0, 100, size=16)
        sampler.update(ids, rng.uniform(0, 4, size=16))
    rebuilt = SoftmaxSampler(sampler.losses, beta=3.0, center=sampler.center)
    assert np.array_equal(sampler.tree, rebuilt.tree)
    assert np.allclose(sampler.probabilities(), softmax(3.0 * sampler.losses))


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_extreme_losses_recenter_without_overflow(scale):
    rng = np.random.default_rng(3)
    sampler = SoftmaxSampler(np.zeros(50), beta=10.0)
    for _ in range(20):
        ids = rng.integers(0, 50, size=8)
        sampler.update(ids, scale * rng.uniform(0, 100, size=8))
    probabilities = sampler.probabilities()
    assert np.isfinite(sampler.tree).all() and np.isfinite(probabilities).all()
    assert np.allclose(probabilities, softmax(10.0 * sampler.losses))
    assert math.exp(-50) <= sampler.total <= math.exp(50)


def test_history_starts_high_and_takes_the_fresh_losses():
    algorithm = make(SGD_HWS, hws_beta=2.0, hws_init_loss=10.0)
    algorithm.bind_training_examples([2, 3])
    assert torch.equal(algorithm.loss_history, torch.full((5,), 10.0))
    mb = batches(with_ids=True)[:1] + [(batches()[1][0], batches()[1][1], torch.tensor([2, 4]))]
    x = torch.cat([b[0] for b in mb])
    y = torch.cat([b[1] for b in mb])
    with torch.no_grad():
        expected = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    expected_grad = gradient_of(algorithm.network, lambda net: F.cross_entropy(net(x), y))
    before = parameters_of(algorithm)

    algorithm.update(mb)

    assert torch.allclose(algorithm.loss_history[[0, 1, 2, 4]], expected)
    assert algorithm.loss_history[3] == 10.0  # not trained on: unchanged
    # The sampler now follows softmax(beta * L): the unseen example 3 dominates.
    probabilities = algorithm.sampler.probabilities()
    assert np.allclose(probabilities, softmax(2.0 * algorithm.loss_history.numpy().astype(np.float64)))
    assert probabilities[3] > 0.99
    for p, p0, g in zip(algorithm.network.parameters(), before, expected_grad):
        assert torch.allclose(p - p0, -g, atol=1e-6)  # plain mean-loss step


def test_unseen_examples_are_drawn_first():
    algorithm = make(SGD_HWS, hws_beta=1.0, hws_init_loss=10.0)
    algorithm.bind_training_examples([100])
    seen = set()
    for step in range(10):
        ids = algorithm.sample_examples(step, 10, torch.Generator().manual_seed(step))
        seen |= set(ids.tolist())
        algorithm.sampler.update(ids.numpy(), np.full(10, 0.5))
        algorithm.loss_history[ids] = 0.5
    # Unseen examples weigh e^9.5 times more: 10 draws of 10 cover far more than
    # uniform sampling would (about 63 distinct ids).
    assert len(seen) > 85


def test_staleness_correction_weights():
    algorithm = make(SGD_HWS, hws_beta=0.5, hws_init_loss=1.0, hws_staleness_correction=True, hws_is_clip=1.2)
    algorithm.bind_training_examples([2, 2])
    mb = batches(with_ids=True)
    x = torch.cat([b[0] for b in mb])
    y = torch.cat([b[1] for b in mb])
    with torch.no_grad():
        fresh = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    # By hand: w_i = min(exp(beta * (l_i - L_old_i)), clip), L_old = 1.
    w = torch.tensor([min(math.exp(0.5 * (l - 1.0)), 1.2) for l in fresh.tolist()])
    expected_grad = gradient_of(algorithm.network,
                                lambda net: (w * F.cross_entropy(net(x), y, reduction="none")).mean())
    before = parameters_of(algorithm)
    result = algorithm.update(mb)
    assert result["objective"] == pytest.approx(float((w * fresh).mean()), rel=1e-6)
    for p, p0, g in zip(algorithm.network.parameters(), before, expected_grad):
        assert torch.allclose(p - p0, -g, atol=1e-6)
