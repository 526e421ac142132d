"""ALSO, the Adaptive Loss Scaling Optimizer (Feoktistov et al., arXiv 2508.16734).

    min_theta max_{pi in simplex_c}  sum_g pi_g L_g(theta) - lambda * KL(pi || pi_hat)

over ``c`` groups (``also_groups``): the training domains (default), the classes,
domain x class, or single examples (object-level).  With the per-example losses scaled
by ``c / B`` (``B`` the pooled batch size) and ``g_g`` the sum of the scaled losses of
group ``g`` in the batch, each step does

* theta: Adam with coupled L2 (weight decay added to the gradient) on
  ``sum_i pi[group(i)] * (c / B) * l_i``;
* pi: mirror ascent with a KL prox towards ``pi_hat``:
  ``log pi+ = [log(pi + eps) + eta*lambda*log(pi_hat) + eta*g] / (1 + eta*lambda)``,
  ``pi+ = softmax(log pi+ / T)``, with ``eta = pi_lr``, ``lambda = pi_decay``,
  ``T = pi_temperature``.

``pi`` starts at ``pi_hat`` (``also_pi_init``): uniform (the default), or static
non-uniform weights proportional to the inverse of each group's count in the training
data ("inverse_frequency": inverse class frequencies with ``also_groups = "class"``),
which the authors strongly recommend.  A group absent from the training data (a cell of
domain x class that never occurs) starts at 0, as it never appears in a batch; with
single-example groups both choices are uniform.

``also_mode = "descent-ascent"`` takes the theta step with the current pi, then the pi
step.  ``"optimistic"`` (the authors' default) first extrapolates from the previous
step's gradients, theta with ``also_alpha`` times the previous theta gradient (negative
momentum) and pi with the previous pi gradient, evaluates the gradients there, then
steps from the saved point.  As in the authors' code, Adam's moments see both the
extrapolation and the main step.  ``pi``, the previous gradients and Adam's state are
all saved in checkpoints.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rgd_bench.algorithms.base import domain_labels, pooled
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.values import NON_NEGATIVE, POSITIVE
from rgd_bench.registry import ALGORITHMS

FLOAT32_EPS = float(np.finfo(np.float32).eps)
GROUPINGS = ("domain", "class", "domain_class", "example")
PI_INITS = ("uniform", "inverse_frequency")


class CoupledAdam(torch.optim.Optimizer):
    """Adam with L2 weight decay added to the gradient, written as ALSO's authors write it
    (``denom = sqrt(v) + eps``, bias correction folded into the step size), plus the
    memory of the previous gradients that the optimistic mode extrapolates from."""

    def __init__(self, params, lr: float, weight_decay: float, betas=(0.9, 0.999), eps: float = FLOAT32_EPS):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "step" not in state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = state["exp_avg_sq"].sqrt().add_(group["eps"])
                step_size = group["lr"] * (1 - beta2 ** state["step"]) ** 0.5 / (1 - beta1 ** state["step"])
                p.addcdiv_(state["exp_avg"], denom, value=-step_size)

    def remember_gradients(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.state[p]["previous_grad"] = p.grad.detach().clone()

    def extrapolate(self, alpha: float) -> bool:
        """Step with ``alpha`` times the previous gradients; False if there are none yet."""
        stepped = False
        for group in self.param_groups:
            for p in group["params"]:
                previous = self.state[p].get("previous_grad")
                p.grad = None if previous is None else alpha * previous
                stepped = stepped or previous is not None
        if stepped:
            self.step()
        return stepped


def pi_step(pi: torch.Tensor, log_pi_hat: torch.Tensor, gain: torch.Tensor, lr: float, decay: float,
            temperature: float) -> torch.Tensor:
    """Mirror ascent on the simplex with a KL prox towards ``pi_hat``."""
    log_pi = (torch.log(pi + FLOAT32_EPS) + decay * lr * log_pi_hat + lr * gain) / (1 + decay * lr)
    return torch.softmax(log_pi / temperature, dim=-1)


def also_step(parameters: Sequence[torch.nn.Parameter], optimizer: CoupledAdam, pi: torch.Tensor,
              previous_pi_gain: torch.Tensor, has_previous_pi_gain: torch.Tensor,
              step_pi: Callable[[torch.Tensor], torch.Tensor],
              objective: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
              *, optimistic: bool, alpha: float, max_grad_norm: float | None = None) -> torch.Tensor:
    """One ALSO step of theta and pi, in place; returns the objective minimised.

    ``objective(pi_used)`` evaluates the model now and returns ``(objective, gain)``: the
    pi-weighted loss to minimise and each group's gain (the sum of its scaled losses,
    detached).  ``step_pi(gain)`` is the mirror-ascent step of ``pi`` (``pi_step``).
    Optimistic: theta and pi are first extrapolated from the previous step's gradients
    (``optimizer.extrapolate(alpha)``, ``step_pi(previous_pi_gain)``), the gradients taken
    there, and the step made from the saved theta and the current pi.  ``max_grad_norm``
    clips the gradient before it is remembered and applied.  ``pi``,
    ``previous_pi_gain`` and ``has_previous_pi_gain`` are the owner's buffers.
    """
    parameters = list(parameters)
    pi_used = pi
    if optimistic:  # gradients at the extrapolated point, the step from the saved one
        anchor = [p.detach().clone() for p in parameters]
        optimizer.extrapolate(alpha)
        if has_previous_pi_gain:
            pi_used = step_pi(previous_pi_gain)
    value, gain = objective(pi_used)
    optimizer.zero_grad()
    value.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    if optimistic:
        optimizer.remember_gradients()
        with torch.no_grad():
            for p, saved in zip(parameters, anchor):
                p.copy_(saved)
    optimizer.step()

    if optimistic:
        previous_pi_gain.copy_(gain)
        has_previous_pi_gain.fill_(True)
    pi.copy_(step_pi(gain))
    return value


@ALGORITHMS.register()
class ALSO(ERM):
    HPARAMS = {
        "lr": HParam(1e-3, lambda r: 10 ** r.uniform(np.log10(3e-5), -3), POSITIVE),
        "weight_decay": HParam(1e-3, lambda r: 10 ** r.uniform(-4, -1), NON_NEGATIVE),
        "pi_lr": HParam(1e-3, lambda r: 10 ** r.uniform(-5, -3), POSITIVE, doc="eta, the step size of pi"),
        "pi_decay": HParam(1e-2, lambda r: 10 ** r.uniform(-3, 0), NON_NEGATIVE,
                           doc="lambda, the weight of KL(pi || pi_hat)"),
        "pi_temperature": HParam(1.0, lambda r: 1.0, POSITIVE, doc="T of pi+ = softmax(log pi+ / T)"),
        "also_mode": HParam("optimistic", lambda r: "optimistic", choices=("optimistic", "descent-ascent")),
        "also_alpha": HParam(1.0, lambda r: 1.0, NON_NEGATIVE, doc="negative momentum of the optimistic extrapolation"),
        "also_groups": HParam("domain", lambda r: "domain", choices=GROUPINGS,
                              doc="what pi weighs: domains, classes, domain x class, or single examples"),
        "optimizer": None, "momentum": None,  # ALSO steps with its own coupled Adam
        "also_pi_init": HParam("uniform", lambda r: "uniform", choices=PI_INITS,
                               doc="pi_init = pi_hat: uniform, or proportional to 1 / each group's training count"),
    }

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        self.optimizer = CoupledAdam(self.network.parameters(), lr=hparams["lr"],
                                     weight_decay=hparams["weight_decay"])
        self.grouping = hparams["also_groups"]
        self.NEEDS_EXAMPLE_IDS = self.grouping == "example"
        self.inverse_frequency = hparams["also_pi_init"] == "inverse_frequency"
        self.NEEDS_TRAINING_LABELS = self.inverse_frequency and self.grouping in ("class", "domain_class")
        n_groups = {"domain": num_domains, "class": num_classes,
                    "domain_class": num_domains * num_classes, "example": 0}[self.grouping]
        self._init_pi(n_groups)

    def _init_pi(self, n_groups: int) -> None:
        device = next(self.network.parameters()).device
        self.register_buffer("pi", torch.full((n_groups,), 1.0 / max(n_groups, 1), device=device))
        # Derived from the training data at bind time, so not saved: checkpoints stay as they were.
        self.register_buffer("log_pi_hat", torch.log(self.pi.clone()), persistent=False)
        self.register_buffer("previous_pi_gain", torch.zeros(n_groups, device=device))
        self.register_buffer("has_previous_pi_gain", torch.zeros((), dtype=torch.bool, device=device))

    def _start_from_counts(self, counts: torch.Tensor) -> None:
        """pi_init = pi_hat proportional to 1 / count; 0 for a group never seen (its log
        floored at float32's eps, so the prox term stays finite even with pi_decay = 0)."""
        counts = counts.to(self.pi)
        inverse = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
        self.pi.copy_(inverse / inverse.sum())
        self.log_pi_hat.copy_(torch.log(self.pi.clamp(min=FLOAT32_EPS)))

    def bind_training_examples(self, env_sizes):
        if self.grouping == "example":
            self._init_pi(int(sum(env_sizes)))
        elif self.grouping == "domain" and self.inverse_frequency:
            self._start_from_counts(torch.as_tensor(list(env_sizes), dtype=torch.float64))

    def bind_training_labels(self, labels):
        counts = torch.zeros(len(self.pi), dtype=torch.float64)
        for domain, env_labels in enumerate(labels):
            group = env_labels.long() + (domain * self.num_classes if self.grouping == "domain_class" else 0)
            counts += torch.bincount(group, minlength=len(self.pi)).double()
        self._start_from_counts(counts)

    def group_ids(self, minibatches, all_y) -> torch.Tensor:
        if self.grouping == "domain":
            return domain_labels(minibatches)
        if self.grouping == "class":
            return all_y
        if self.grouping == "domain_class":
            return domain_labels(minibatches) * self.num_classes + all_y
        return torch.cat([batch[2] for batch in minibatches])

    def _pi_step(self, gain: torch.Tensor) -> torch.Tensor:
        h = self.hparams
        return pi_step(self.pi, self.log_pi_hat, gain, h["pi_lr"], h["pi_decay"], h["pi_temperature"])

    def update(self, minibatches, unlabeled=None):
        all_x, all_y = pooled(minibatches)[:2]
        groups = self.group_ids(minibatches, all_y)
        if len(self.pi) == 0:
            raise RuntimeError("ALSO with also_groups='example' needs bind_training_examples() first.")
        scale = len(self.pi) / len(all_y)
        evaluated = {}

        def objective(pi_used: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            losses = evaluated["losses"] = F.cross_entropy(self.predict(all_x), all_y, reduction="none")
            scaled = scale * losses
            gain = torch.zeros_like(self.pi).index_add_(0, groups, scaled.detach())
            return (pi_used[groups] * scaled).sum(), gain

        value = also_step(self.network.parameters(), self.optimizer, self.pi, self.previous_pi_gain,
                          self.has_previous_pi_gain, self._pi_step, objective,
                          optimistic=self.hparams["also_mode"] == "optimistic", alpha=self.hparams["also_alpha"])
        return {"loss": evaluated["losses"].mean().item(), "objective": value.item(), "pi_max": self.pi.max().item()}
