"""ALSO: the pi step, the coupled-Adam theta step and both modes, by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithm_fixtures import batches, gradient_of, make, parameters_of
from rgd_bench.algorithms.also import ALSO, pi_step

EPS = float(np.finfo(np.float32).eps)
LR, WD, PI_LR, PI_DECAY = 0.01, 0.01, 0.5, 0.1


def also(mode: str, groups: str = "domain", **hparams):
    return make(ALSO, lr=LR, weight_decay=WD, pi_lr=PI_LR, pi_decay=PI_DECAY, pi_temperature=1.0,
                also_mode=mode, also_groups=groups, also_alpha=1.0, **hparams)


def adam(p, g, m, v, t, lr=LR, b1=0.9, b2=0.999):
    """One step of Adam with L2 added to the gradient, as ALSO's authors write it."""
    g = g + WD * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (v.sqrt() + EPS), m, v


def pi_by_hand(pi, gain, lr=PI_LR, decay=PI_DECAY, temperature=1.0):
    c = len(pi)
    logits = [(math.log(p + EPS) + decay * lr * math.log(1 / c) + lr * g) / (1 + decay * lr)
              for p, g in zip(pi, gain)]
    top = max(logits)
    e = [math.exp((l - top) / temperature) for l in logits]
    return torch.tensor([x / sum(e) for x in e])


def test_pi_step_formula():
    assert torch.allclose(pi_step(torch.tensor([0.5, 0.5]), torch.tensor(math.log(0.5)), torch.tensor([1.0, 0.0]),
                                  lr=0.1, decay=0.01, temperature=1.0),
                          torch.tensor([1 / (1 + math.exp(-0.1 / 1.001)), 1 - 1 / (1 + math.exp(-0.1 / 1.001))]))
    pi, gain = [0.7, 0.2, 0.1], [0.3, 2.0, 0.0]
    for temperature in (1.0, 2.0):
        got = pi_step(torch.tensor(pi), torch.tensor(math.log(1 / 3)), torch.tensor(gain), 0.5, 0.1, temperature)
        assert torch.allclose(got, pi_by_hand(pi, gain, 0.5, 0.1, temperature), atol=1e-6)


def losses_and_groups(algorithm, mb):
    x = torch.cat([b[0] for b in mb])
    y = torch.cat([b[1] for b in mb])
    return x, y, torch.tensor([0, 0, 1, 1])  # domain of each pooled example


def test_descent_ascent_step():
    algorithm = also("descent-ascent")
    mb = batches()
    x, y, domain = losses_and_groups(algorithm, mb)
    scale = 2 / 4  # c groups / B examples
    with torch.no_grad():
        losses = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    pi0 = torch.tensor([0.5, 0.5])
    grads = gradient_of(algorithm.network,
                        lambda net: (pi0[domain] * scale * F.cross_entropy(net(x), y, reduction="none")).sum())
    expected = [adam(p, g, torch.zeros_like(p), torch.zeros_like(p), 1)[0]
                for p, g in zip(parameters_of(algorithm), grads)]
    gain = [scale * float(losses[:2].sum()), scale * float(losses[2:].sum())]

    result = algorithm.update(mb)

    assert result["objective"] == pytest.approx(float((pi0[domain] * scale * losses).sum()), rel=1e-6)
    for p, e in zip(algorithm.network.parameters(), expected):
        assert torch.allclose(p, e, atol=1e-7)
    assert torch.allclose(algorithm.pi, pi_by_hand([0.5, 0.5], gain), atol=1e-6)


def test_optimistic_first_step_equals_descent_ascent_and_second_extrapolates():
    optimistic, plain = also("optimistic"), also("descent-ascent")
    mb1, mb2 = batches(0), batches(1)
    optimistic.update(mb1)
    plain.update(mb1)
    for p, q in zip(optimistic.network.parameters(), plain.network.parameters()):
        assert torch.equal(p, q)  # no previous gradient yet: the same step
    assert torch.equal(optimistic.pi, plain.pi)

    # Step 2 by hand: extrapolate theta with alpha * previous gradient (Adam, t=2) and
    # pi with the previous gain, take the gradient there, step from theta_1 (Adam, t=3).
    state = optimistic.optimizer.state
    params = list(optimistic.network.parameters())
    theta1 = parameters_of(optimistic)
    previous = [state[p]["previous_grad"].clone() for p in params]
    moments = [(state[p]["exp_avg"].clone(), state[p]["exp_avg_sq"].clone()) for p in params]
    extrapolated = [adam(p, g, m, v, 2) for p, g, (m, v) in zip(theta1, previous, moments)]
    pi_ext = pi_by_hand(optimistic.pi.tolist(), optimistic.previous_pi_gain.tolist())
    x, y, domain = losses_and_groups(optimistic, mb2)
    probe = make(ALSO, lr=LR)  # a network to evaluate at the extrapolated point
    with torch.no_grad():
        for p, (e, _, _) in zip(probe.network.parameters(), extrapolated):
            p.copy_(e)
        losses_ext = F.cross_entropy(probe.predict(x), y, reduction="none")
    grads = gradient_of(probe.network,
                        lambda net: (pi_ext[domain] * 0.5 * F.cross_entropy(net(x), y, reduction="none")).sum())
    expected = [adam(p, g, m, v, 3)[0] for p, g, (_, m, v) in zip(theta1, grads, extrapolated)]
    gain = [0.5 * float(losses_ext[:2].sum()), 0.5 * float(losses_ext[2:].sum())]
    pi1 = optimistic.pi.tolist()

    result = optimistic.update(mb2)

    assert result["objective"] == pytest.approx(float((pi_ext[domain] * 0.5 * losses_ext).sum()), rel=1e-5)
    for p, e in zip(optimistic.network.parameters(), expected):
        assert torch.allclose(p, e, atol=1e-6)
    assert torch.allclose(optimistic.pi, pi_by_hand(pi1, gain), atol=1e-6)


@pytest.mark.parametrize("groups,size,expected_gain_groups", [
    ("domain", 2, [0, 0, 1, 1]),
    ("class", 2, [0, 1, 1, 1]),
    ("domain_class", 4, [0, 1, 3, 3]),
])
def test_groupings(groups, size, expected_gain_groups):
    algorithm = also("descent-ascent", groups)
    assert algorithm.pi.shape == (size,) and torch.allclose(algorithm.pi.sum(), torch.tensor(1.0))
    mb = batches()
    x, y, _ = losses_and_groups(algorithm, mb)
    with torch.no_grad():
        losses = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    scale = size / 4
    gain = [0.0] * size
    for g, l in zip(expected_gain_groups, losses.tolist()):
        gain[g] += scale * l
    algorithm.update(mb)
    assert torch.allclose(algorithm.pi, pi_by_hand([1 / size] * size, gain), atol=1e-6)


def test_object_level_groups_weigh_single_examples():
    algorithm = also("descent-ascent", "example")
    assert algorithm.NEEDS_EXAMPLE_IDS
    algorithm.bind_training_examples([3, 4])
    assert algorithm.pi.shape == (7,)
    mb = batches(with_ids=True)  # ids 0, 1, 2, 3
    algorithm.update(mb)
    untouched = algorithm.pi[4:]
    assert torch.allclose(untouched, untouched[0].expand(3))  # examples not in the batch move together
    assert (algorithm.pi[:4] > untouched[0]).all()  # examples with a loss gained weight
    assert "pi" in algorithm.state_dict() and algorithm.state_dict()["pi"].shape == (7,)


def test_authors_defaults_and_ranges():
    from rgd_bench.hparams import random_hparams

    space = ALSO.hparam_space(None)
    assert {k: space[k].default for k in ("lr", "weight_decay", "pi_lr", "pi_decay", "pi_temperature")} == {
        "lr": 1e-3, "weight_decay": 1e-3, "pi_lr": 1e-3, "pi_decay": 1e-2, "pi_temperature": 1.0}
    for seed in range(50):
        h = random_hparams(space, seed)
        assert 3e-5 <= h["lr"] <= 1e-3 and 1e-4 <= h["weight_decay"] <= 0.1
        assert 1e-5 <= h["pi_lr"] <= 1e-3 and 1e-3 <= h["pi_decay"] <= 1


def pi_by_hand_towards(pi, gain, pi_hat, lr=PI_LR, decay=PI_DECAY):
    logits = [(math.log(p + EPS) + decay * lr * math.log(h) + lr * g) / (1 + decay * lr)
              for p, g, h in zip(pi, gain, pi_hat)]
    e = [math.exp(l - max(logits)) for l in logits]
    return torch.tensor([x / sum(e) for x in e])


def test_inverse_class_frequency_start_and_prox_target():
    """pi_init = pi_hat = (1/n_c) / sum(1/n): classes counted 30 and 10 give [1/4, 3/4];
    the prox then pulls towards that pi_hat, not towards uniform."""
    algorithm = also("descent-ascent", "class", also_pi_init="inverse_frequency")
    assert algorithm.NEEDS_TRAINING_LABELS
    algorithm.bind_training_examples([25, 15])
    algorithm.bind_training_labels([torch.tensor([0] * 20 + [1] * 5), torch.tensor([0] * 10 + [1] * 5)])
    assert torch.allclose(algorithm.pi, torch.tensor([0.25, 0.75]))
    mb = batches()
    x, y, _ = losses_and_groups(algorithm, mb)
    with torch.no_grad():
        losses = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    gain = [0.0, 0.0]
    for g, l in zip(y.tolist(), losses.tolist()):
        gain[g] += 2 / 4 * l
    algorithm.update(mb)
    assert torch.allclose(algorithm.pi, pi_by_hand_towards([0.25, 0.75], gain, [0.25, 0.75]), atol=1e-6)


def test_inverse_frequency_of_domains_and_of_domain_class_groups():
    by_domain = also("descent-ascent", "domain", also_pi_init="inverse_frequency")
    assert not by_domain.NEEDS_TRAINING_LABELS  # the environment sizes are enough
    by_domain.bind_training_examples([10, 40])
    assert torch.allclose(by_domain.pi, torch.tensor([0.8, 0.2]))
    cells = also("descent-ascent", "domain_class", also_pi_init="inverse_frequency")
    cells.bind_training_examples([3, 2])
    cells.bind_training_labels([torch.tensor([0, 0, 1]), torch.tensor([1, 1])])  # counts 2, 1, 0, 2
    assert torch.allclose(cells.pi, torch.tensor([0.5, 1, 0, 0.5]) / 2)  # the absent cell starts at 0
    x, y = batches()[0]
    cells.update([(x, y), (x, torch.tensor([1, 1]))])  # pi_decay as in every test; finite, absent cell ~0
    assert torch.isfinite(cells.pi).all() and cells.pi[2] < 1e-6


def test_uniform_start_stays_the_default():
    algorithm = also("descent-ascent", "class")
    assert not algorithm.NEEDS_TRAINING_LABELS
    assert torch.allclose(algorithm.pi, torch.tensor([0.5, 0.5]))
    assert "log_pi_hat" not in algorithm.state_dict()  # derived from the data, not saved


def test_the_engine_hands_alsos_inverse_frequency_the_training_labels(cli, tmp_path):
    """Through the training command: pi starts at inverse class frequencies of the training
    split (pi_lr tiny, so one step leaves it there): the rarest class weighs most."""
    out = tmp_path / "run"
    result = cli("rgd_bench.train", "--algorithm", "ALSO", "--dataset", "Wine", "--test_envs", "1", "--steps", "1",
                 "--output_dir", str(out), "--hparams",
                 '{"also_groups": "class", "also_pi_init": "inverse_frequency", "pi_lr": 1e-9, "batch_size": 8}')
    assert result.returncode == 0, result.stderr
    pi = torch.load(out / "model.pkl", weights_only=True)["model_dict"]["pi"]
    assert pi.sum().item() == pytest.approx(1.0)
    from rgd_bench.registry import DATASETS

    counts = torch.bincount(DATASETS.get("Wine")(None, [1], {}).datasets[0].tensors[1])  # 41, 50, 33 of 124
    assert int(pi.argmax()) == int(counts.argmin()) and int(pi.argmin()) == int(counts.argmax())
    assert pi.max() / pi.min() == pytest.approx(float(counts.max() / counts.min()), rel=0.25)
