"""DomainBed's protocol: in/out splits of every environment, one minibatch per training
environment, the accuracy of every split at each checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rgd_bench._batches import TrainingStream, eval_batches, in_memory_tensors
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


class DomainBedProtocol:
    # Nothing beyond results.jsonl is logged, so nothing else is truncated on resume.
    log_names: tuple[str, ...] = ()

    def __init__(self, plan):
        self.plan, self.args, self.hparams = plan, plan.args, plan.hparams
        self.dataset = plan.dataset_cls(self.args.data_dir, self.args.test_envs, self.hparams)
        self.in_splits, self.out_splits = self._make_splits()
        self._check_batch_size()
        self.input_shape = self.dataset.input_shape
        self.num_classes = self.dataset.num_classes
        self.num_domains = len(self.dataset) - len(self.args.test_envs)
        self.n_steps = self.dataset.N_STEPS
        self.checkpoint_freq = self.dataset.CHECKPOINT_FREQ
        self.num_workers = self.dataset.N_WORKERS if self.args.num_workers is None else self.args.num_workers
        self.steps_per_epoch = min(len(s.data) / self.hparams["batch_size"] for s in self.in_splits)
        self.record_constants: dict[str, Any] = {}

    def _training(self) -> list[tuple[int, _Split]]:
        return [(i, s) for i, s in enumerate(self.in_splits) if i not in self.args.test_envs]

    def _make_splits(self) -> tuple[list[_Split], list[_Split]]:
        """Every environment into ``out`` (holdout_fraction) and ``in``, seeded by
        ``seed_hash(trial_seed, env_i)`` as DomainBed."""
        in_splits, out_splits = [], []
        for env_i, env in enumerate(self.dataset):
            n_out = int(len(env) * self.args.holdout_fraction)
            if not 0 < n_out < len(env):  # DomainBed divides by the size of every split
                raise UsageError(
                    f"--holdout_fraction {self.args.holdout_fraction} leaves environment {env_i} "
                    f"({self.dataset.ENVIRONMENTS[env_i]}) of {self.args.dataset}, which has {len(env)} "
                    f"examples, with an empty {'out' if n_out == 0 else 'in'} split; use a fraction in "
                    f"[{1 / len(env):.4g}, {1 - 1 / len(env):.4g}].")
            out, in_ = split_dataset(env, n_out, seed_hash(self.args.trial_seed, env_i))
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
                    f"({self.dataset.ENVIRONMENTS[env_i]}) of {self.args.dataset}, which has "
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

    def stream(self, algorithm, start_step: int) -> TrainingStream:
        return TrainingStream(
            algorithm,
            [(s.data, s.tensors, s.weights, seed_hash(self.args.seed, env_i)) for env_i, s in self._training()],
            self.hparams["batch_size"], self.args.seed, start_step, self.num_workers)

    def evaluate(self, algorithm, step: int, device: str, epoch: float) -> dict[str, float]:
        accs = {}
        for split in self.in_splits + self.out_splits:
            batches = eval_batches(split.data, split.tensors, self.args.eval_batch_size,
                                   seed_hash(self.args.seed, split.name), step, self.num_workers)
            accs[f"{split.name}_acc"] = accuracy(algorithm, batches, device)
        return accs
