"""The subpopulation protocol, once its data is loaded.

* Train on the ``train`` split, one batch of ``batch_size`` examples per step: a fresh shuffle
  every epoch, or, for algorithms with ``GROUP_BALANCED`` (ReSample, as SubpopBench's
  ``group_balanced``), with replacement and weights ``1 / size of the example's group``.  The batch
  reaches the algorithm split by group (``grouped_pool``): label x attribute groups with
  ``--train_attr yes``, the classes with ``no``.
* Every ``checkpoint_freq`` steps (and after the last) the train, val and test splits are
  predicted in eval mode and scored by ``subpopulation_metrics`` over the true label x attribute
  groups; records carry ``{split}_{metric}``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rgd_bench.datasets.subpopulation import SPLITS
from rgd_bench.engine.batches import eval_batches
from rgd_bench.engine.protocols.grouped_pool import GroupedPool, TrainsFromPool
from rgd_bench.engine.protocols.subpopulation_metrics import SUMMARY, split_metrics
from rgd_bench.hparams import seed_hash

# Constant keys of every record: the report tells this protocol's runs apart by them.
PROTOCOL_KEY = "protocol"


class SubpopulationData(TrainsFromPool):
    log_names: tuple[str, ...] = ()

    def __init__(self, run):
        self.config, self.hparams = run.config, run.hparams
        self.dataset = dataset = run.dataset_cls(self.config.data_dir, None, self.hparams)
        self.splits = dataset.splits
        self.input_shape = tuple(dataset.input_shape)
        self.num_classes = dataset.num_classes
        train = self.splits["train"]
        if self.config.train_attr == "yes":
            groups, self.num_domains = train.y * dataset.num_attributes + train.a, dataset.num_classes * dataset.num_attributes
        else:
            groups, self.num_domains = train.y, dataset.num_classes
        self.n_steps, self.checkpoint_freq = dataset.N_STEPS, dataset.CHECKPOINT_FREQ
        self.steps_per_epoch = len(train.y) / self.hparams["batch_size"]
        self.num_workers = dataset.N_WORKERS if self.config.num_workers is None else self.config.num_workers
        self.pool = GroupedPool(train.data, train.tensors, train.y, groups, self.num_domains,
                                self.hparams["batch_size"], self.config.seed, run.algorithm_cls.GROUP_BALANCED,
                                self.num_workers)
        self.record_constants: dict[str, Any] = {PROTOCOL_KEY: "subpopulation"}

    @staticmethod
    def is_checkpoint(step: int, freq: int) -> bool:
        return step % freq == 0

    def evaluate(self, algorithm, step: int, device: str, epoch: float) -> dict[str, float]:
        results: dict[str, float] = {}
        for name in SPLITS:
            split = self.splits[name]
            probabilities = self._probabilities(algorithm, name, split, step, device)
            metrics = split_metrics(probabilities, split.y.numpy(), split.a.numpy(), self.dataset.num_attributes)
            results.update({f"{name}_{key}": value for key, value in metrics.items()})
        return results

    def _probabilities(self, algorithm, name: str, split, step: int, device: str) -> np.ndarray:
        chunks = []
        algorithm.eval()
        with torch.no_grad():
            for x, _ in eval_batches(split.data, split.tensors, self.config.eval_batch_size,
                                     seed_hash(self.config.seed, name), step, self.num_workers):
                chunks.append(torch.softmax(algorithm.predict(x.to(device)).double(), dim=1).cpu())
        algorithm.train()
        return torch.cat(chunks).numpy()

    def describe_record(self, record: dict[str, Any]) -> str:
        """A record as ``out.txt`` shows it: the step and training values, then one line per split
        with the summary metrics in %."""
        lines = [f"step {record['step']} (epoch {record['epoch']:.2f}): "
                 + "  ".join(f"{k} {v:.4g}" for k, v in record.items()
                             if isinstance(v, float) and not k.startswith(SPLITS) and k != "epoch")]
        for name in SPLITS:
            cells = [f"{m} {100 * record[f'{name}_{m}']:.1f}" for m in SUMMARY if f"{name}_{m}" in record]
            lines.append(f"  {name:<5}  " + "  ".join(cells))
        return "\n".join(lines)
