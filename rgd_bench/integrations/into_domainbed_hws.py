"""SGD-HWS inside DomainBed's training loop, with its real hardness-weighted sampling.

DomainBed's ``train.py`` draws one uniform minibatch per training environment from an
``InfiniteDataLoader`` and hands ``[(x, y), ...]`` to ``update``.  SGD-HWS must instead
choose the examples itself, from softmax(beta * loss history), and learn which examples
it trained on.  For an SGD_HWS run, ``install()`` replaces DomainBed's
``InfiniteDataLoader`` with ``HardnessWeightedLoader``; all loaders of the run share one
``Session``:

- at each step the first loader asks the algorithm's sampler for ``batch_size x
  environments`` example ids (ids number the training examples environment after
  environment, as in rgd_bench's engine) and every loader yields its environment's share;
- ``DomainBedSGD_HWS.update`` receives DomainBed's ``(x, y)`` pairs and adds the ids of
  the same draw, so the loss history is updated for exactly the examples trained on.

Draws use a generator seeded from torch's global RNG, which DomainBed seeds with
``--seed``: a run is reproducible.  DomainBed's ``domain_adaptation`` task (unlabelled
loaders) is not supported with SGD_HWS.

Outside such a session (a DomainBed test, a user's own loop) ``DomainBedSGD_HWS`` is
built as any algorithm, bound to no training examples yet; ``predict`` and
``state_dict`` work.  Its ``update`` then takes ``(x, y, example_ids)`` minibatches after
``bind_training_examples(env_sizes)``, with ids drawn by ``sample_examples(step, count,
generator)``; plain ``(x, y)`` minibatches are refused with one line (``RuntimeError``)
saying so, since it cannot learn the losses of examples it cannot name.  Like RGD and
ALSO inside DomainBed, it builds DomainBed's own networks (``into_domainbed_networks``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import default_collate

from rgd_bench.algorithms.hws import SGD_HWS
from rgd_bench.integrations.into_domainbed_networks import domainbed_network


class Session:
    """The training loaders of one DomainBed run and the draw of the current step."""

    def __init__(self) -> None:
        self.loaders: list[HardnessWeightedLoader] = []
        self.algorithm: DomainBedSGD_HWS | None = None
        self.current: list[torch.Tensor] = []  # local ids per environment, this step
        self.current_global: list[torch.Tensor] = []

    def offsets(self) -> list[int]:
        starts = [0]
        for loader in self.loaders:
            starts.append(starts[-1] + len(loader.dataset))
        return starts

    def next_ids(self, env: int) -> torch.Tensor:
        if env == 0:
            self._draw()
        return self.current[env]

    def _draw(self) -> None:
        if self.algorithm is None:
            raise RuntimeError("SGD_HWS's loaders were read before the algorithm was built")
        batch_size = self.loaders[0].batch_size
        seed = int(torch.randint(2 ** 31 - 1, (1,)))  # from DomainBed's seeded global RNG
        generator = torch.Generator().manual_seed(seed)
        ids = self.algorithm.sample_examples(0, batch_size * len(self.loaders), generator)
        starts = self.offsets()
        self.current_global = [ids[(ids >= starts[e]) & (ids < starts[e + 1])] for e in range(len(self.loaders))]
        self.current = [g - starts[e] for e, g in enumerate(self.current_global)]


SESSION: Session | None = None


class HardnessWeightedLoader:
    """Stands in for DomainBed's ``InfiniteDataLoader``: yields (x, y) of the examples the
    SGD_HWS sampler chose for this loader's environment at each step (possibly none)."""

    def __init__(self, dataset, weights=None, batch_size: int = 32, num_workers: int = 0):
        if SESSION is None:
            raise RuntimeError("HardnessWeightedLoader outside an SGD_HWS run")
        self.dataset = dataset
        self.batch_size = batch_size
        self.env = len(SESSION.loaders)
        SESSION.loaders.append(self)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        local = SESSION.next_ids(self.env).tolist()
        if not local:
            x, y = self.dataset[0]
            return torch.empty((0, *torch.as_tensor(x).shape)), torch.empty((0,), dtype=torch.long)
        return tuple(default_collate([self.dataset[i] for i in local]))

    def __len__(self):
        raise ValueError  # infinite, as DomainBed's


NOT_IN_A_SESSION = (
    "SGD_HWS chooses its own training examples from its loss history, so update() needs their ids: run it "
    "with `python -m rgd_bench.integrations.into_domainbed train --algorithm SGD_HWS ...` (which installs the "
    "hardness-weighted loaders), or in your own loop call bind_training_examples(env_sizes), draw ids with "
    "sample_examples(step, count, generator) and pass (x, y, example_ids) minibatches")


class DomainBedSGD_HWS(SGD_HWS):
    """SGD_HWS with DomainBed's networks, taking DomainBed's ``(x, y)`` minibatches in an
    SGD_HWS run (the ids come from the session) and ``(x, y, ids)`` ones anywhere."""

    build_network = staticmethod(domainbed_network)

    def __init__(self, input_shape, num_classes, num_domains, hparams: dict[str, Any]):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        if SESSION is not None and SESSION.loaders:  # DomainBed's train.py builds the loaders first
            SESSION.algorithm = self
            self.bind_training_examples([len(loader.dataset) for loader in SESSION.loaders])

    def update(self, minibatches, unlabeled=None):
        with_ids = all(len(batch) == 3 for batch in minibatches)
        if SESSION is not None and SESSION.algorithm is self and not with_ids:
            ids = SESSION.current_global
            minibatches = [(x, y, i.to(x.device)) for (x, y), i in zip(minibatches, ids) if len(i)]
        elif not with_ids or self.sampler is None:
            raise RuntimeError(NOT_IN_A_SESSION)
        return super().update(minibatches, unlabeled)


def install(fast_data_loader_module) -> None:
    """Route the run's ``InfiniteDataLoader`` through the hardness-weighted session."""
    global SESSION
    SESSION = Session()
    fast_data_loader_module.InfiniteDataLoader = HardnessWeightedLoader
