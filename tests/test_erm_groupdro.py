"""ERM's and GroupDRO's math against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from algorithm_fixtures import batches, gradient_of, make
from rgd_bench.algorithms.erm import ERM
from rgd_bench.algorithms.groupdro import GroupDRO


def step_direction(algorithm, objective):
    return [-g for g in gradient_of(algorithm.network, objective)]


def test_groupdro_equal_losses_keep_q_uniform():
    algorithm = make(GroupDRO, groupdro_eta=0.5)
    with torch.no_grad():
        for p in algorithm.network.parameters():
            p.zero_()  # logits 0: every loss is log 2
    result = algorithm.update(batches())
    assert torch.allclose(algorithm.q, torch.tensor([0.5, 0.5]))
    assert result["loss"] == pytest.approx(math.log(2))


def test_groupdro_q_update_objective_and_gradient():
    algorithm = make(GroupDRO, groupdro_eta=0.5)
    mb = batches()
    with torch.no_grad():
        losses = torch.stack([F.cross_entropy(algorithm.predict(x), y) for x, y in mb])
    # q_m <- q_m * exp(eta * loss_m) from q = (1, 1), then normalised.
    unnormalised = torch.exp(0.5 * losses)
    expected_q = unnormalised / unnormalised.sum()
    expected_step = step_direction(algorithm, lambda net: sum(
        expected_q[m] * F.cross_entropy(net(x), y) for m, (x, y) in enumerate(mb)))
    before = [p.detach().clone() for p in algorithm.network.parameters()]

    result = algorithm.update(mb)

    assert torch.allclose(algorithm.q, expected_q, atol=1e-7)
    assert result["loss"] == pytest.approx(float(expected_q @ losses), rel=1e-6)
    for p, p0, direction in zip(algorithm.network.parameters(), before, expected_step):
        assert torch.allclose(p - p0, direction, atol=1e-6)

    # The second step multiplies into the first step's q.
    with torch.no_grad():
        losses2 = torch.stack([F.cross_entropy(algorithm.predict(x), y) for x, y in batches(1)])
    algorithm.update(batches(1))
    q2 = expected_q * torch.exp(0.5 * losses2)
    assert torch.allclose(algorithm.q, q2 / q2.sum(), atol=1e-7)


def test_groupdro_rejects_a_wrong_number_of_groups():
    algorithm = make(GroupDRO, groupdro_eta=0.5)
    with pytest.raises(ValueError, match="2 training environments"):
        algorithm.update(batches()[:1])


def test_erm_is_the_pooled_mean_loss():
    algorithm = make(ERM)
    mb = batches()
    all_x = torch.cat([x for x, _ in mb])
    all_y = torch.cat([y for _, y in mb])
    with torch.no_grad():
        expected_loss = F.cross_entropy(algorithm.predict(all_x), all_y).item()
    expected_step = step_direction(algorithm, lambda net: F.cross_entropy(net(all_x), all_y))
    before = [p.detach().clone() for p in algorithm.network.parameters()]
    assert algorithm.update(mb)["loss"] == pytest.approx(expected_loss)
    for p, p0, direction in zip(algorithm.network.parameters(), before, expected_step):
        assert torch.allclose(p - p0, direction, atol=1e-6)
