"""DomainBed's protocol, once its data is loaded: in/out splits of every environment, one
minibatch per training environment, the accuracy of every split at each checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from torch.utils.data import default_collate

from rgd_bench.engine.batches import EnvironmentBatches, SampledBatches, SeededItems, eval_batches, in_memory_tensors
from rgd_bench.datasets.base import balanced_class_weights, labels_of, split_dataset
from rgd_bench.errors import UsageError
from rgd_bench.hparams import seed_hash


@dataclass
class _Split:
    name: str
    data: Any
    tensors: tuple[torch.Tensor, torch.Tensor] | None
    weights: torch.Tensor | None


def accuracy(algorithm, batches, device: str) -> float:
    """Share of correct predictions (a single logit is read as a binary score, as DomainBed)."""
    correct = total = 0
    algorithm.eval()
    with torch.no_grad():
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            p = algorithm.predict(x)
            if p.size(1) == 1:
                correct += p.gt(0).eq(y.view(-1, 1)).sum().item()
            else:
                correct += p.argmax(1).eq(y).sum().item()
            total += len(x)
    algorithm.train()
    return correct / total


def _row(values, colwidth: int = 12) -> str:
    """DomainBed's ``misc.print_row``."""
    def fmt(x):
        if isinstance(x, float):
            x = f"{x:.10f}"
        return str(x).ljust(colwidth)[:colwidth]
    return "  ".join(fmt(x) for x in values)


class DomainBedData:
    # Nothing beyond results.jsonl is logged, so nothing else is truncated on resume.
    log_names: tuple[str, ...] = ()
    record_constants: dict[str, Any] = {}

    def __init__(self, run):
        self.config, self.hparams = run.config, run.hparams
        self.dataset = run.dataset_cls(self.config.data_dir, list(self.config.test_envs), self.hparams)
        self.in_splits, self.out_splits = self._make_splits()
        self._check_batch_size()
        self.input_shape = self.dataset.input_shape
        self.num_classes = self.dataset.num_classes
        self.num_domains = len(self.dataset) - len(self.config.test_envs)
        self.n_steps = self.dataset.N_STEPS
        self.checkpoint_freq = self.dataset.CHECKPOINT_FREQ
        self.num_workers = self.dataset.N_WORKERS if self.config.num_workers is None else self.config.num_workers
        self.steps_per_epoch = min(len(s.data) / self.hparams["batch_size"] for s in self.in_splits)
        self._last_keys: list[str] | None = None

    def _training(self) -> list[tuple[int, _Split]]:
        return [(i, s) for i, s in enumerate(self.in_splits) if i not in self.config.test_envs]

    def _make_splits(self) -> tuple[list[_Split], list[_Split]]:
        """Every environment into ``out`` (holdout_fraction) and ``in``, seeded by
        ``seed_hash(trial_seed, env_i)`` as DomainBed."""
        in_splits, out_splits = [], []
        for env_i, env in enumerate(self.dataset):
            n_out = int(len(env) * self.config.holdout_fraction)
            if not 0 < n_out < len(env):  # DomainBed divides by the size of every split
                raise UsageError(
                    f"--holdout_fraction {self.config.holdout_fraction} leaves environment {env_i} "
                    f"({self.dataset.ENVIRONMENTS[env_i]}) of {self.config.dataset}, which has {len(env)} "
                    f"examples, with an empty {'out' if n_out == 0 else 'in'} split; use a fraction in "
                    f"[{1 / len(env):.4g}, {1 - 1 / len(env):.4g}].")
            out, in_ = split_dataset(env, n_out, seed_hash(self.config.trial_seed, env_i))
            for name, data, target in ((f"env{env_i}_in", in_, in_splits), (f"env{env_i}_out", out, out_splits)):
                weights = balanced_class_weights(data) if self.hparams["class_balanced"] else None
                target.append(_Split(name, data, in_memory_tensors(data), weights))
        return in_splits, out_splits

    def _check_batch_size(self) -> None:
        batch_size = self.hparams["batch_size"]
        for env_i, split in self._training():
            if len(split.data) < batch_size:
                raise UsageError(
                    f"batch_size {batch_size} is larger than the training split of environment {env_i} "
                    f"({self.dataset.ENVIRONMENTS[env_i]}) of {self.config.dataset}, which has "
                    f"{len(split.data)} examples; use a batch_size of at most {len(split.data)} or a "
                    f"smaller --holdout_fraction."
                )

    @staticmethod
    def is_checkpoint(step: int, freq: int) -> bool:
        """DomainBed records after the first step, then every ``freq`` steps."""
        return step % freq == 0

    def prepare(self, algorithm) -> None:
        algorithm.bind_training_examples([len(s.data) for _, s in self._training()])
        if algorithm.NEEDS_TRAINING_LABELS:
            algorithm.bind_training_labels([labels_of(s.data) for _, s in self._training()])

    def stream(self, algorithm, start_step: int):
        """Each step's ``(x, y, ids)`` minibatches, one per training environment."""
        training = self._training()
        if algorithm.SAMPLES_EXAMPLES:
            return SampledBatches(algorithm, self.hparams["batch_size"] * len(training), self.config.seed, start_step,
                                  _EnvironmentPool([s for _, s in training],
                                                   [seed_hash(self.config.seed, env_i) for env_i, _ in training]).fetch)
        return EnvironmentBatches([(s.data, s.tensors, s.weights, seed_hash(self.config.seed, env_i))
                                   for env_i, s in training], self.hparams["batch_size"], start_step, self.num_workers)

    def describe_record(self, record: dict[str, Any]) -> str:
        """A record as DomainBed's own ``out.txt`` shows it: a row of a table, under its header
        whenever the keys change."""
        keys = sorted(record)
        lines = [] if keys == self._last_keys else [_row(keys)]
        self._last_keys = keys
        return "\n".join([*lines, _row([record[k] for k in keys])])

    def evaluate(self, algorithm, step: int, device: str, epoch: float) -> dict[str, float]:
        accs = {}
        for split in self.in_splits + self.out_splits:
            batches = eval_batches(split.data, split.tensors, self.config.eval_batch_size,
                                   seed_hash(self.config.seed, split.name), step, self.num_workers)
            accs[f"{split.name}_acc"] = accuracy(algorithm, batches, device)
        return accs


class _EnvironmentPool:
    """The training examples of every environment, numbered environment after environment."""

    def __init__(self, splits: list[_Split], env_seeds: list[int]):
        self.offsets = torch.tensor([0] + [len(s.data) for s in splits]).cumsum(0)
        self.items = [SeededItems(s.data, seed) for s, seed in zip(splits, env_seeds)]
        tensors = [s.tensors for s in splits]
        self.pool = None if any(t is None for t in tensors) else (
            torch.cat([t[0] for t in tensors]), torch.cat([t[1] for t in tensors]))

    def fetch(self, ids: torch.Tensor, step: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The examples ``ids``, grouped by environment (empty groups left out)."""
        envs = torch.searchsorted(self.offsets[1:], ids, right=True)
        minibatches = []
        for e in range(len(self.items)):
            chosen = ids[envs == e]
            if len(chosen) == 0:
                continue
            if self.pool is not None:
                minibatches.append((self.pool[0][chosen], self.pool[1][chosen], chosen))
            else:  # read item by item, in order: draws depend on the previous step's losses
                local = (chosen - self.offsets[e]).tolist()
                x, y, _ = default_collate([self.items[e][(step, position, index)]
                                           for position, index in enumerate(local)])
                minibatches.append((x, y, chosen))
        return minibatches
