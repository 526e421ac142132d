"""WILDS's protocol (``examples/run_expt.py`` of WILDS 2.0.0), once its data is loaded.

* Train on the ``train`` split.  Each step draws one batch of ``batch_size`` examples:
  every epoch a fresh shuffle (WILDS's standard loader), or, for algorithms with
  ``UNIFORM_OVER_GROUPS`` (GroupDRO) or ``--uniform_over_groups true``, with replacement
  and weights ``1 / size of the example's group`` (WILDS's ``uniform_over_groups``).
* Groups come from a ``CombinatorialGrouper`` over ``--groupby_fields`` (the dataset's
  WILDS default otherwise).  The batch reaches the algorithm as one minibatch per group,
  in group order (empty ones included), so each algorithm's "domains" are WILDS's groups;
  example ids number the training examples group after group.
* At the end of every epoch (every ``--checkpoint_freq`` steps) every other split (``val``, ``test``, ``id_val``, ``id_test``, ...)
  is predicted and scored by the dataset's own ``eval()``.  Records carry the results as
  ``{split}_{metric}``, with ``val_metric`` for the report's early stopping; each split's
  results are also appended to ``{split}_eval.csv`` as WILDS logs them (``epoch``, the
  0-based epoch as an integer, then the metrics in ``eval()``'s order).
* ``out.txt`` shows each record as a block that fits an 80-column terminal: the epoch, the
  training values as ``name: value`` lines, and each split's results as ``eval()`` words
  them (WILDS's ``log.txt``).
"""
from __future__ import annotations

import csv
import math
import os
from typing import Any

import torch

from rgd_bench.engine.batches import eval_batches
from rgd_bench.engine.protocols.grouped_pool import GroupedPool, TrainsFromPool
from rgd_bench.errors import UsageError
from rgd_bench.hparams import seed_hash
from rgd_bench.rundir import writing


class WildsData(TrainsFromPool):
    def __init__(self, run):
        self.config, self.hparams = run.config, run.hparams
        self.benchmark = run.dataset_cls(self.config.data_dir, None, self.hparams)
        self.wilds_dataset = dataset = self.benchmark.wilds_dataset
        self.grouper = self._grouper()
        self.train = dataset.get_subset("train", transform=self.benchmark.transform(True))
        self.eval_subsets = {
            split: dataset.get_subset(split, transform=self.benchmark.transform(False))
            for split in dataset.split_dict
            if split != "train" and bool((torch.as_tensor(dataset.split_array) == dataset.split_dict[split]).any())
        }
        self.log_names = tuple(f"{split}_eval.csv" for split in self.eval_subsets)

        self.num_domains = self.grouper.n_groups
        self.input_shape = tuple(self.benchmark.input_shape)
        self.num_classes = self.benchmark.num_classes
        batch_size = self.hparams["batch_size"]
        per_epoch = math.ceil(len(self.train) / batch_size)
        self.n_steps, self.checkpoint_freq = self.benchmark.N_EPOCHS * per_epoch, per_epoch
        self.steps_per_epoch = len(self.train) / batch_size
        self.num_workers = self.benchmark.N_WORKERS if self.config.num_workers is None else self.config.num_workers
        uniform = self.config.uniform_over_groups  # protocols.wilds refused it for algorithms that sample
        inputs = getattr(dataset, "input_tensor", None)  # in-memory datasets: index, don't read
        self.inputs = inputs() if inputs is not None and self.benchmark.TRANSFORM is None else None
        self.pool = GroupedPool(
            self.train, self._tensors(self.train), torch.as_tensor(self.train.y_array),
            self.grouper.metadata_to_group(self.train.metadata_array), self.num_domains, batch_size,
            self.config.seed, run.algorithm_cls.UNIFORM_OVER_GROUPS if uniform is None else uniform, self.num_workers)
        self.record_constants: dict[str, Any] = {
            "val_metric": self.benchmark.VAL_METRIC,
            "val_metric_decreasing": self.benchmark.VAL_METRIC_DECREASING,
        }

    def _grouper(self):
        from wilds.common.grouper import CombinatorialGrouper

        fields = list(self.config.groupby_fields or self.benchmark.GROUPBY_FIELDS)
        allowed = list(self.wilds_dataset.metadata_fields)
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise UsageError(f"--groupby_fields {unknown[0]} is not a metadata field of {self.config.dataset}; "
                             f"allowed: {', '.join(allowed)}.")
        return CombinatorialGrouper(self.wilds_dataset, fields)

    def _tensors(self, subset) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.inputs is None:
            return None
        indices = torch.as_tensor(subset.indices)
        return self.inputs[indices], torch.as_tensor(subset.y_array)

    @staticmethod
    def is_checkpoint(step: int, freq: int) -> bool:
        """WILDS evaluates at the end of each epoch (``freq`` steps), never after one step."""
        return (step + 1) % freq == 0

    def evaluate(self, algorithm, step: int, device: str, epoch: float) -> dict[str, float]:
        results: dict[str, float] = {}
        self.eval_texts: dict[str, str] = {}  # for describe_record
        for split, subset in self.eval_subsets.items():
            y_pred = self._predict(algorithm, split, subset, step, device)
            metrics, text = self.wilds_dataset.eval(y_pred, subset.y_array, subset.metadata_array)
            metrics = {key: float(value) for key, value in metrics.items()}
            self._log_csv(split, self.epoch_index(step), metrics)
            self.eval_texts[split] = text
            results.update({f"{split}_{key}": value for key, value in metrics.items()})
        self.eval_keys = set(results)
        return results

    def epoch_index(self, step: int) -> int:
        """The 0-based epoch that ``step`` belongs to, as WILDS numbers its epochs."""
        return step // self.checkpoint_freq

    def describe_record(self, record: dict) -> str:
        """A record as ``out.txt`` shows it: a block of short lines, WILDS's ``log.txt`` words
        for each split's results, full names throughout."""
        skip = {*self.eval_keys, "step", "epoch", *self.record_constants}
        lines = [f"\nEpoch [{self.epoch_index(record['step'])}], step {record['step']}:", "Train:"]
        lines += [f"  {key}: {_number(value)}" for key, value in record.items() if key not in skip]
        names = self.wilds_dataset.split_names
        for split, text in self.eval_texts.items():
            lines += [f"{names.get(split, split)}, split {split}:", text.rstrip("\n").expandtabs(8)]
        official = f"val_{self.record_constants['val_metric']}"
        if official in record:
            lines.append(f"Validation {self.record_constants['val_metric']}: {record[official]:.3f}")
        return "\n".join(lines)

    def _predict(self, algorithm, split: str, subset, step: int, device: str) -> torch.Tensor:
        """Predicted labels (WILDS's ``multiclass_logits_to_pred``)."""
        predictions = []
        algorithm.eval()
        with torch.no_grad():
            for x, _ in eval_batches(subset, self._tensors(subset), self.config.eval_batch_size,
                                     seed_hash(self.config.seed, split), step, self.num_workers):
                predictions.append(algorithm.predict(x.to(device)).argmax(dim=-1).cpu())
        algorithm.train()
        return torch.cat(predictions)

    def _log_csv(self, split: str, epoch: int, metrics: dict[str, float]) -> None:
        """One row as WILDS's ``BatchLogger`` writes it: ``epoch`` (an int) first, then the metrics."""
        path = os.path.join(self.config.output_dir, f"{split}_eval.csv")
        row = {"epoch": epoch, **metrics}
        with writing(path), open(path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if f.tell() == 0:
                writer.writeheader()
            writer.writerow(row)


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
