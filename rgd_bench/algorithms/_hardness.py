"""The loss history of hardness weighted sampling, shared by SGD_HWS in rgd_bench's engine
and in WILDS's ``run_expt`` (one implementation, so both train the same way).

A mixin for an ``nn.Module``: its buffers (``loss_history``, ``sampler_center``,
``warm_seed``, ``warm_seen``) go into ``state_dict`` under those names, so a resumed run
draws exactly what an uninterrupted one would.

- ``bind_history(n)`` sizes the history: every entry starts at ``init_loss``.
- ``draw(count, generator)``: during the warm-start epoch (Algorithm 1, lines 5-12 of
  Fidon et al.) the next ``count`` examples of one random permutation of all examples;
  afterwards ``count`` i.i.d. draws from ``softmax(beta * L)`` (with replacement, as the
  paper writes it; the author's code draws without replacement within a batch).
- ``record(ids, fresh)`` writes the fresh losses back and returns each example's weight
  in the step: 1 during the warm-start epoch (plain SGD) or without staleness correction,
  else the author's clipped importance weight ``clip(exp(beta * (l - L_old)), low, high)``.
"""
from __future__ import annotations

import torch

from rgd_bench.algorithms._softmax_sampler import SoftmaxSampler


class HardnessHistory:
    """Mixin: ``L`` over the training examples, its sampler and the warm-start epoch."""

    def init_history(self, beta: float, init_loss: float, warm_start: bool,
                     staleness_correction: bool, clip: tuple[float, float]) -> None:
        self.hws_beta, self.hws_init_loss, self.hws_warm_start = float(beta), float(init_loss), bool(warm_start)
        self.hws_staleness_correction, self.hws_clip = bool(staleness_correction), clip
        self.register_buffer("loss_history", torch.zeros(0))
        # The sampler's centre is state: (L, centre) rebuild the same sum tree.
        self.register_buffer("sampler_center", torch.zeros((), dtype=torch.float64))
        # The warm-start permutation is rebuilt from its seed (-1: not drawn yet), not stored.
        self.register_buffer("warm_seed", torch.full((), -1, dtype=torch.int64))
        self.register_buffer("warm_seen", torch.zeros((), dtype=torch.int64))
        self.sampler: SoftmaxSampler | None = None
        self._warm_order: torch.Tensor | None = None

    def bind_history(self, n: int) -> None:
        self.loss_history = torch.full((int(n),), self.hws_init_loss, device=self.sampler_center.device)
        self.warm_seed.fill_(-1)
        self.warm_seen.zero_()
        self._warm_order = None
        self._rebuild_sampler(center=None)

    @property
    def warming(self) -> bool:
        """Whether the warm-start epoch still has examples to visit."""
        return self.hws_warm_start and int(self.warm_seen) < len(self.loss_history)

    def _rebuild_sampler(self, center: float | None) -> None:
        self.sampler = SoftmaxSampler(self.loss_history.cpu().numpy(), self.hws_beta, center)
        self.sampler_center.fill_(self.sampler.center)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._warm_order = None
        if len(self.loss_history):
            self._rebuild_sampler(center=float(self.sampler_center))

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """The ids of the next ``count`` training examples."""
        if self.sampler is None:
            raise RuntimeError(f"{type(self).__name__} needs bind_training_examples() before sampling.")
        if self.warming:
            start = int(self.warm_seen)
            return self._warm_permutation(generator)[start:start + count].clone()
        uniforms = torch.rand(count, generator=generator, dtype=torch.float64).numpy()
        return torch.from_numpy(self.sampler.sample(uniforms))

    def _warm_permutation(self, generator: torch.Generator) -> torch.Tensor:
        if int(self.warm_seed) < 0:  # drawn once, from the first step's generator
            self.warm_seed.fill_(int(torch.randint(2 ** 62, (1,), generator=generator)))
        if self._warm_order is None:
            seeded = torch.Generator().manual_seed(int(self.warm_seed))
            self._warm_order = torch.randperm(len(self.loss_history), generator=seeded)
        return self._warm_order

    def record(self, ids: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
        """Store the detached losses ``fresh`` of examples ``ids``; return their weights."""
        warming = self.warming
        ids = ids.cpu()
        fresh_cpu = fresh.detach().float().cpu()
        old = self.loss_history[ids].cpu()
        self.sampler.update(ids.numpy(), fresh_cpu.numpy())
        # Repeated ids: the sampler keeps the last loss; the buffer copies it, so they agree.
        self.loss_history[ids] = torch.from_numpy(self.sampler.losses[ids.numpy()]).float().to(self.loss_history.device)
        self.sampler_center.fill_(self.sampler.center)
        if warming:
            self.warm_seen += len(ids)
            if not self.warming:
                self._warm_order = None  # the epoch is over: free the permutation
        if warming or not self.hws_staleness_correction:
            return torch.ones_like(fresh)
        low, high = self.hws_clip
        return torch.exp(self.hws_beta * (fresh_cpu - old)).clamp(low, high).to(fresh.device)
