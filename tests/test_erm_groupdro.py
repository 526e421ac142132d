"""ERM's and GroupDRO's math against hand-computed values."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from rgd_bench.algorithms.erm import ERM
from rgd_bench.algorithms.groupdro import GroupDRO

HPARAMS = {"lr": 1.0, "weight_decay": 0.0, "nonlinear_classifier": False, "batch_size": 2,
           "mlp_width": 4, "mlp_depth": 2, "mlp_dropout": 0.0, "groupdro_eta": 0.5}


def with_sgd(algorithm):
    """Plain SGD with lr 1, so the step equals minus the gradient of the objective."""
    algorithm.optimizer = torch.optim.SGD(algorithm.network.parameters(), lr=1.0)
    return algorithm


def make(cls, seed=0):
    torch.manual_seed(seed)
    return with_sgd(cls((3,), 2, 2, dict(HPARAMS)))


def batches(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(2, 3, generator=generator), torch.tensor([0, 1])),
            (torch.randn(2, 3, generator=generator), torch.tensor([1, 1]))]


def step_direction(algorithm, objective):
    """-grad(objective) at the algorithm's current parameters."""
    network = copy.deepcopy(algorithm.network)
    network.zero_grad()
    objective(network).backward()
    return [-p.grad for p in network.parameters()]


def test_groupdro_equal_losses_keep_q_uniform():
    algorithm = make(GroupDRO)
    with torch.no_grad():
        for p in algorithm.network.parameters():
            p.zero_()  # logits 0: every loss is log 2
    result = algorithm.update(batches())
    assert torch.allclose(algorithm.q, torch.tensor([0.5, 0.5]))
    assert result["loss"] == pytest.approx(math.log(2))


def test_groupdro_q_update_objective_and_gradient():
    algorithm = make(GroupDRO)
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
    algorithm = make(GroupDRO)
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
