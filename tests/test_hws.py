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
from rgd_bench.algorithms.hws import PAPER_HPARAMS, SGD_HWS


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
    algorithm = make(SGD_HWS, hws_beta=2.0, hws_init_loss=10.0, hws_warm_start=False)
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
    algorithm = make(SGD_HWS, hws_beta=1.0, hws_init_loss=10.0, hws_warm_start=False)
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
    algorithm = make(SGD_HWS, hws_beta=0.5, hws_init_loss=1.0, hws_staleness_correction=True,
                     hws_is_clip_max=1.2, hws_warm_start=False)
    algorithm.bind_training_examples([2, 2])
    mb = batches(with_ids=True)
    x = torch.cat([b[0] for b in mb])
    y = torch.cat([b[1] for b in mb])
    with torch.no_grad():
        fresh = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    # By hand: w_i = clip(exp(beta * (l_i - L_old_i)), 0.1, 1.2), L_old = 1.
    w = torch.tensor([min(max(math.exp(0.5 * (l - 1.0)), 0.1), 1.2) for l in fresh.tolist()])
    expected_grad = gradient_of(algorithm.network,
                                lambda net: (w * F.cross_entropy(net(x), y, reduction="none")).mean())
    before = parameters_of(algorithm)
    result = algorithm.update(mb)
    assert result["objective"] == pytest.approx(float((w * fresh).mean()), rel=1e-6)
    for p, p0, g in zip(algorithm.network.parameters(), before, expected_grad):
        assert torch.allclose(p - p0, -g, atol=1e-6)


def _step_with(algorithm, ids: list[int], data) -> dict:
    x, y = data
    chosen = torch.tensor(ids)
    return algorithm.update([(x[chosen], y[chosen], chosen)])


def _toy_data(n: int = 10):
    generator = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator)


def test_warm_start_visits_every_example_once_with_plain_sgd_steps():
    """Algorithm 1, lines 5-12: one epoch over a permutation, plain mean-loss steps (even
    with the staleness correction on), every loss recorded; then softmax(beta * L)."""
    data = _toy_data()
    algorithm = make(SGD_HWS, hws_beta=3.0, hws_staleness_correction=True)
    algorithm.bind_training_examples([6, 4])
    assert algorithm.warming
    drawn = []
    for step in range(3):
        ids = algorithm.sample_examples(step, 4, torch.Generator().manual_seed(100 + step)).tolist()
        assert len(ids) == (4 if step < 2 else 2)  # the epoch's last batch is the remainder
        x, y = data[0][ids], data[1][ids]
        with torch.no_grad():
            fresh = F.cross_entropy(algorithm.predict(x), y, reduction="none")
        expected_grad = gradient_of(algorithm.network, lambda net: F.cross_entropy(net(x), y))
        before = parameters_of(algorithm)
        _step_with(algorithm, ids, data)
        for p, p0, g in zip(algorithm.network.parameters(), before, expected_grad):
            assert torch.allclose(p - p0, -g, atol=1e-6)  # weights 1: plain SGD
        assert torch.allclose(algorithm.loss_history[ids], fresh)
        drawn += ids
    assert sorted(drawn) == list(range(10))  # each example exactly once
    assert not algorithm.warming
    assert (algorithm.loss_history != algorithm.hparams["hws_init_loss"]).all()
    probabilities = algorithm.sampler.probabilities()
    assert np.allclose(probabilities, softmax(3.0 * algorithm.loss_history.numpy().astype(np.float64)))


def test_warm_start_resumes_mid_epoch_with_the_same_permutation():
    data = _toy_data()
    algorithm = make(SGD_HWS)
    algorithm.bind_training_examples([10])
    first = algorithm.sample_examples(0, 4, torch.Generator().manual_seed(0)).tolist()
    _step_with(algorithm, first, data)
    resumed = make(SGD_HWS)
    resumed.bind_training_examples([10])
    resumed.load_training_state(algorithm.training_state())
    ahead = algorithm.sample_examples(1, 4, torch.Generator().manual_seed(1)).tolist()
    assert resumed.sample_examples(1, 4, torch.Generator().manual_seed(1)).tolist() == ahead
    assert not set(ahead) & set(first)


def test_warm_start_off_is_the_constant_start():
    algorithm = make(SGD_HWS, hws_warm_start=False, hws_init_loss=7.0)
    algorithm.bind_training_examples([5])
    assert not algorithm.warming
    assert torch.equal(algorithm.loss_history, torch.full((5,), 7.0))


def test_importance_weights_are_clipped_to_the_authors_range():
    """With L_old = 10 and beta = 1, a first visit's ratio exp(l - 10) is about 1e-4: the
    author's lower clip 0.1 keeps it in the step; a loss far above L_old hits the upper clip."""
    algorithm = make(SGD_HWS, hws_beta=1.0, hws_init_loss=10.0, hws_staleness_correction=True,
                     hws_warm_start=False)
    algorithm.bind_training_examples([3])
    ids = torch.tensor([0, 1, 2])
    fresh = torch.tensor([0.7, 10.5, 13.0])
    weights = algorithm.record(ids, fresh)
    expected = [0.1, math.exp(0.5), 10.0]  # exp(-9.3) clipped up; exp(0.5) kept; exp(3) clipped down
    assert weights.tolist() == pytest.approx(expected, rel=1e-6)


def test_the_papers_optimizer_preset():
    algorithm = make(SGD_HWS, **PAPER_HPARAMS)
    optimizer = algorithm.optimizer
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.0, 0.0)


def test_draws_are_with_replacement_as_in_the_paper():
    """One example far harder than the rest fills most of a batch (the author's code, which
    draws without replacement within a batch, would take it once)."""
    algorithm = make(SGD_HWS, hws_beta=5.0, hws_warm_start=False, hws_init_loss=0.0)
    algorithm.bind_training_examples([20])
    algorithm.record(torch.tensor([7]), torch.tensor([3.0]))  # exp(15) against exp(0) for the rest
    ids = algorithm.sample_examples(0, 8, torch.Generator().manual_seed(0)).tolist()
    assert ids.count(7) == 8
