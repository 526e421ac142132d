"""JTT's two stages, its error set and its resumption, against hand-computed steps."""
from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from algorithm_fixtures import batches, gradient_of, make
from rgd_bench.algorithms.jtt import JTT

TOTAL_STEPS = 4  # first_stage_step_frac 0.5: steps 0 and 1 train the identification network


def jtt(**hparams):
    algorithm = make(JTT, **{"first_stage_step_frac": 0.5, "jtt_lambda": 5.0, **hparams})
    algorithm.bind_training_examples([2, 2])
    algorithm.bind_total_steps(TOTAL_STEPS)
    return algorithm


def params(network):
    return [p.detach().clone() for p in network.parameters()]


def xy(mb):
    return torch.cat([b[0] for b in mb]), torch.cat([b[1] for b in mb])


def test_first_stage_is_erm_on_the_identification_network():
    algorithm = jtt()
    mb = batches(with_ids=True)
    x, y = xy(mb)
    expected = gradient_of(algorithm.identification_network, lambda net: F.cross_entropy(net(x), y))
    ident_before, final_before = params(algorithm.identification_network), params(algorithm.network)
    assert algorithm.update(mb)["stage"] == 1.0
    for p, p0, g in zip(algorithm.identification_network.parameters(), ident_before, expected):
        assert torch.allclose(p - p0, -g, atol=1e-6)
    assert all(torch.equal(p, p0) for p, p0 in zip(algorithm.network.parameters(), final_before))
    assert torch.equal(algorithm.predict(x), algorithm.identification_network(x))
    assert (algorithm.error_set == -1).all()


def test_second_stage_upweights_the_first_stages_errors_by_lambda():
    algorithm = jtt()
    for step in range(2):
        algorithm.update(batches(seed=step, with_ids=True))
    mb = batches(seed=7, with_ids=True)
    x, y = xy(mb)
    with torch.no_grad():
        wrong = algorithm.identification_network(x).argmax(1) != y
    weights = torch.where(wrong, 5.0, 1.0)
    expected = gradient_of(algorithm.network,
                           lambda net: (weights * F.cross_entropy(net(x), y, reduction="none")).mean())
    ident_before, final_before = params(algorithm.identification_network), params(algorithm.network)
    values = algorithm.update(mb)
    assert values["stage"] == 2.0 and values["upweighted_share"] == pytest.approx(float(wrong.float().mean()))
    for p, p0, g in zip(algorithm.network.parameters(), final_before, expected):
        assert torch.allclose(p - p0, -g, atol=1e-6)
    assert all(torch.equal(p, p0) for p, p0 in zip(algorithm.identification_network.parameters(), ident_before))
    assert algorithm.error_set.tolist() == wrong.to(torch.int8).tolist()  # ids 0..3, in batch order
    assert torch.equal(algorithm.predict(x), algorithm.network(x))


def test_each_examples_verdict_is_decided_once():
    algorithm = jtt(first_stage_step_frac=0.25)  # switch after 1 step
    algorithm.update(batches(with_ids=True))
    algorithm.update(batches(with_ids=True))
    decided = algorithm.error_set.clone()
    assert (decided >= 0).all()
    with torch.no_grad():  # a different identification network would now judge otherwise
        for p in algorithm.identification_network.parameters():
            p.neg_()
    algorithm.update(batches(with_ids=True))
    assert torch.equal(algorithm.error_set, decided)


def test_the_error_set_and_the_stage_survive_a_checkpoint():
    trained = jtt(first_stage_step_frac=0.25)
    trained.update(batches(with_ids=True))
    trained.update(batches(seed=1, with_ids=True))  # stage 2: every example judged
    buffer = io.BytesIO()
    torch.save(trained.training_state(), buffer)
    buffer.seek(0)
    restored = make(JTT, seed=9, first_stage_step_frac=0.25, jtt_lambda=5.0)
    restored.bind_training_examples([2, 2])
    restored.bind_total_steps(TOTAL_STEPS)
    restored.load_training_state(torch.load(buffer, weights_only=True))
    assert torch.equal(restored.error_set, trained.error_set) and int(restored.steps_done) == 2
    mb = batches(seed=2, with_ids=True)
    assert trained.update(mb) == restored.update(mb)
    for a, b in zip(trained.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)


def test_the_switch_is_a_share_of_the_runs_steps():
    algorithm = make(JTT, first_stage_step_frac=0.3)
    algorithm.bind_training_examples([2, 2])
    algorithm.bind_total_steps(10)
    stages = [algorithm.update(batches(with_ids=True))["stage"] for _ in range(5)]
    assert stages == [1.0, 1.0, 1.0, 2.0, 2.0]  # int(0.3 * 10) = 3 steps of ERM


def test_jtt_needs_the_runs_length():
    algorithm = make(JTT)
    algorithm.bind_training_examples([2, 2])
    with pytest.raises(ValueError, match="JTT needs the run's length"):
        algorithm.update(batches(with_ids=True))
