"""CVaR-DRO, chi^2-DRO, KL-DRO, Focal, ReWeight and ReSample against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from algorithm_fixtures import batches, gradient_of, make, parameters_of
from rgd_bench.algorithms.chi2_dro import Chi2DRO, bisection, chi2_penalty, chi2_weights
from rgd_bench.algorithms.erm import ERM
from rgd_bench.algorithms.cvar_dro import CVaRDRO, cvar_weights
from rgd_bench.algorithms.focal import Focal, focal_losses
from rgd_bench.algorithms.kl_dro import KLDRO, kl_weights
from rgd_bench.algorithms.resample import ReSample
from rgd_bench.algorithms.reweight import ReWeight, inverse_frequency_weights

LOSSES = torch.tensor([1.0, 4.0, 2.0, 3.0])


# CVaR: the mean of the worst alpha-fraction, the fractional example weighted.

@pytest.mark.parametrize("alpha,expected", [
    (0.5, [0.0, 0.5, 0.0, 0.5]),              # the 2 worst of 4, 1/2 each
    (0.3, [0.0, 1 / 1.2, 0.0, 1 - 1 / 1.2]),  # 1.2 examples: the worst whole, the next 0.2 of it
    (1.0, [0.25] * 4),                        # ERM
    (0.1, [0.0, 1.0, 0.0, 0.0]),              # under one example: the worst alone
])
def test_cvar_weights(alpha, expected):
    weights = cvar_weights(LOSSES, alpha)
    assert torch.allclose(weights, torch.tensor(expected))
    assert float(weights.sum()) == pytest.approx(1.0)


def test_cvar_is_the_mean_of_the_worst_share():
    # alpha = 0.3 of 4 uniform examples: (1/0.3) * (0.25 * 4 + 0.05 * 3).
    assert float(torch.dot(cvar_weights(LOSSES, 0.3), LOSSES)) == pytest.approx((1.0 + 0.15) / 0.3)


def test_cvar_ties_go_to_the_first_example():
    assert cvar_weights(torch.tensor([2.0, 2.0, 1.0]), 1 / 3).tolist() == pytest.approx([1.0, 0.0, 0.0])


# chi^2: the worst case in the chi^2 ball (constrained) or under the chi^2 penalty.

V = torch.tensor([0.0, 1.0, 2.0, 3.0])


def test_chi2_constrained_weights_by_hand():
    # Unclipped, p_i = 1/m + sqrt(2 rho)/m * (v_i - mean) / std = [0.1, 0.2, 0.3, 0.4] at rho 0.1,
    # where 1/2 mean((4p - 1)^2) = 0.1.
    weights = chi2_weights(V, "constrained", rho=0.1, lam=0.0)
    assert torch.allclose(weights, torch.tensor([0.1, 0.2, 0.3, 0.4]), atol=1e-4)
    assert 0.5 * float(torch.mean((4 * weights - 1) ** 2)) == pytest.approx(0.1, abs=1e-4)


@pytest.mark.parametrize("lam,expected", [
    (1.5, [0.0, 1 / 6, 2 / 6, 3 / 6]),  # eta = 0: p = v / (lambda m)
    (0.5, [0.0, 0.0, 0.25, 0.75]),      # eta = 1.5: (2 - eta) + (3 - eta) = lambda m = 2
])
def test_chi2_penalized_weights_by_hand(lam, expected):
    assert torch.allclose(chi2_weights(V, "penalized", rho=1.0, lam=lam), torch.tensor(expected), atol=1e-4)


def test_chi2_penalty_by_hand():
    # lambda / (2m) * ||m p - 1||^2 with m p - 1 = [-1, -1/3, 1/3, 1].
    weights = torch.tensor([0.0, 1 / 6, 2 / 6, 3 / 6])
    assert float(chi2_penalty(weights, 1.5)) == pytest.approx(1.5 / 8 * (2 + 2 / 9))


def test_chi2_equal_losses_are_uniform_and_a_small_batch_takes_the_largest():
    assert chi2_weights(torch.full((5,), 0.7), "constrained", 1.0, 0.0).tolist() == pytest.approx([0.2] * 5)
    # m = 3 <= 1 + 2 rho: all the mass on the largest losses, shared by ties.
    assert chi2_weights(torch.tensor([1.0, 3.0, 3.0]), "constrained", 1.0, 0.0).tolist() == [0.0, 0.5, 0.5]


def test_bisection_widens_its_bracket_to_the_root():
    root = bisection(torch.tensor(0.0), torch.tensor(1.0), lambda eta: eta - 7.25, tolerance=1e-6)
    assert float(root) == pytest.approx(7.25, abs=1e-6)
    root = bisection(torch.tensor(0.0), torch.tensor(1.0), lambda eta: eta + 3.5, tolerance=1e-6)
    assert float(root) == pytest.approx(-3.5, abs=1e-6)


# KL: softmax(loss / T).

def test_kl_weights_by_hand():
    losses = torch.tensor([0.0, math.log(3.0)])
    assert torch.allclose(kl_weights(losses, 1.0), torch.tensor([0.25, 0.75]))
    assert torch.allclose(kl_weights(losses, 2.0), torch.tensor([1 / (1 + math.sqrt(3)), math.sqrt(3) / (1 + math.sqrt(3))]))


# Focal: (1 - exp(-l))^gamma * l.

def test_focal_losses_by_hand():
    losses = torch.tensor([math.log(2.0), math.log(4.0)])
    assert torch.allclose(focal_losses(losses, 2.0), torch.tensor([0.25 * math.log(2.0), 0.5625 * math.log(4.0)]))
    assert torch.allclose(focal_losses(losses, 0.0), losses)


# ReWeight: 1 / n_g, normalised to sum to the number of groups.

def test_inverse_frequency_weights_by_hand():
    assert inverse_frequency_weights(torch.tensor([1, 3])).tolist() == pytest.approx([1.5, 0.5])
    # an empty group weighs 0 but counts among the groups, as SubpopBench's
    assert inverse_frequency_weights(torch.tensor([0, 2, 6])).tolist() == pytest.approx([0.0, 2.25, 0.75])


def test_reweight_refuses_to_train_before_it_knows_its_groups():
    algorithm = make(ReWeight)
    with pytest.raises(ValueError, match="ReWeight needs its groups' sizes"):
        algorithm.update(batches())
    with pytest.raises(ValueError, match=r"built for 2 non-empty groups, got the group sizes \[3\]"):
        algorithm.bind_training_examples([3])


def test_resample_asks_for_group_balanced_batches():
    # ERM's step and hyperparameters; the engine draws its batches uniformly over groups.
    assert ReSample.UNIFORM_OVER_GROUPS and not ERM.UNIFORM_OVER_GROUPS
    assert ReSample.hparam_space(None) == ERM.hparam_space(None) and ReSample.update is ERM.update


# Each step: SGD with lr 1 moves the parameters by minus the gradient of the hand-built objective.

def _hand_weights(name, losses, groups):
    """The weights of each example in the objective sum_i w_i * l_i, built by hand."""
    if name == "CVaRDRO":  # alpha 0.5 of 4: the two largest, 1/2 each
        top = sorted(range(4), key=lambda i: -losses[i])[:2]
        return [0.5 if i in top else 0.0 for i in range(4)]
    if name == "KLDRO":  # T = 2
        exps = [math.exp(l / 2) for l in losses]
        return [e / sum(exps) for e in exps]
    if name == "ReWeight":  # groups of 1 and 3 training examples: 1.5 and 0.5, over a batch of 4
        return [(1.5 if g == 0 else 0.5) / 4 for g in groups]
    raise KeyError(name)


def pooled_batch(algorithm):
    """The toy minibatches, their pooled (x, y), and each example's loss before the step."""
    mb = batches()
    x, y = torch.cat([b[0] for b in mb]), torch.cat([b[1] for b in mb])
    with torch.no_grad():
        losses = F.cross_entropy(algorithm.predict(x), y, reduction="none")
    return mb, x, y, losses


def step_follows(algorithm, mb, objective) -> dict[str, float]:
    """Take the algorithm's step and check that SGD with lr 1 moved its parameters by minus the
    gradient of ``objective(network)``, built by hand; return what the step reported."""
    expected = gradient_of(algorithm.network, objective)
    before = parameters_of(algorithm)
    result = algorithm.update(mb)
    for p, p0, g in zip(algorithm.network.parameters(), before, expected):
        assert torch.allclose(p - p0, -g, atol=1e-6)
    return result


@pytest.mark.parametrize("cls,hparams", [
    (CVaRDRO, {"joint_dro_alpha": 0.5}),
    (KLDRO, {"kl_temperature": 2.0}),
    (ReWeight, {}),
])
def test_step_is_the_weighted_loss_gradient(cls, hparams):
    algorithm = make(cls, **hparams)
    algorithm.bind_training_examples([1, 3])
    mb, x, y, losses = pooled_batch(algorithm)
    w = torch.tensor(_hand_weights(cls.__name__, losses.tolist(), [0, 0, 1, 1]))
    result = step_follows(algorithm, mb, lambda net: (w * F.cross_entropy(net(x), y, reduction="none")).sum())
    assert result["loss"] == pytest.approx(float(losses.mean()), rel=1e-6)


def test_kl_records_its_dual_objective():
    algorithm = make(KLDRO, kl_temperature=2.0)
    mb, _, _, losses = pooled_batch(algorithm)
    # T * log(mean(exp(l / T)))
    expected = 2 * math.log(sum(math.exp(l / 2) for l in losses.tolist()) / 4)
    assert algorithm.update(mb)["objective"] == pytest.approx(expected)


@pytest.mark.parametrize("formulation", ["constrained", "penalized"])
def test_chi2_step_is_the_worst_case_gradient(formulation):
    algorithm = make(Chi2DRO, chi2_formulation=formulation, chi2_rho=0.1, chi2_lambda=0.5)
    mb, x, y, losses = pooled_batch(algorithm)
    p = chi2_weights(losses, formulation, 0.1, 0.5)
    # The worst case by its defining condition: the constraint holds with equality, or the
    # weights sum to 1 (penalised).
    if formulation == "constrained":
        assert 0.5 * float(torch.mean((4 * p - 1) ** 2)) == pytest.approx(0.1, abs=1e-4)
    else:
        assert float(p.sum()) == pytest.approx(1.0, abs=1e-4)
    step_follows(algorithm, mb, lambda net: (p * F.cross_entropy(net(x), y, reduction="none")).sum())


def test_focal_step_is_the_focal_gradient():
    algorithm = make(Focal, gamma=2.0)
    mb, x, y, _ = pooled_batch(algorithm)

    def focal(net):
        losses = F.cross_entropy(net(x), y, reduction="none")
        return ((1 - torch.exp(-losses)) ** 2 * losses).mean()

    step_follows(algorithm, mb, focal)


def test_focal_gradient_stays_finite_on_a_perfectly_classified_example():
    # 1 - exp(-0) = 0 and gamma < 1: the plain formula's autograd gives 0^(gamma-1) * 0 = NaN.
    losses = torch.tensor([0.0, 0.3], requires_grad=True)
    focal_losses(losses, 0.5).sum().backward()
    assert torch.isfinite(losses.grad).all() and losses.grad[0] == pytest.approx(0.0, abs=1e-15)
    plain = torch.tensor([0.0, 0.3], requires_grad=True)
    ((1 - torch.exp(-plain)) ** 0.5 * plain).sum().backward()
    assert torch.isnan(plain.grad[0])
    assert losses.grad[1] == pytest.approx(float(plain.grad[1]))  # the same function elsewhere


def test_chi2_constrained_takes_the_limit_where_the_ball_holds_every_concentration():
    # A minibatch from a sweep (a model predicting from colour alone): even all the mass on the 7
    # largest losses has chi^2 = 1/2 < rho = 1, so the root is the largest loss itself, where
    # relu(v - eta) / sum is 0 / 0.  fast-dro's step is NaN there; the limit is 1/7 on each.
    low, high = 0.6922001838684082, 0.6940950155258179
    v = torch.tensor([low] * 6 + [0.6921972632408142] + [high] * 7)
    assert chi2_weights(v, "constrained", rho=1.0, lam=0.0).tolist() == pytest.approx([0.0] * 7 + [1 / 7] * 7)
