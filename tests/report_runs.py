"""Hand-made run directories for the report's tests."""
from __future__ import annotations

import json
import os
from typing import Sequence


def write_run(sweep_dir, name: str, *, test_envs: Sequence[int], accs: Sequence[dict], dataset: str = "VLCS",
              algorithm: str = "ERM", trial_seed: int = 0, hparams_seed: int = 0, n_envs: int = 4,
              hparams: dict | None = None, done: bool = True, extra_args: dict | None = None,
              last_extra: dict | None = None) -> str:
    """A run whose checkpoint ``k`` (step 10*k) has the accuracies in ``accs[k]``:
    ``{"env1_out_acc": 0.8, ...}``; unspecified accuracies are 0.5."""
    run_dir = os.path.join(str(sweep_dir), name)
    os.makedirs(run_dir, exist_ok=True)
    args = {"algorithm": algorithm, "dataset": dataset, "test_envs": list(test_envs), "trial_seed": trial_seed,
            "hparams_seed": hparams_seed, "hparams": None, "output_dir": run_dir, "data_dir": "data",
            "holdout_fraction": 0.2, "seed": 0, "steps": 10 * len(accs), **(extra_args or {})}
    with open(os.path.join(run_dir, "results.jsonl"), "w", encoding="utf-8") as f:
        for k, acc in enumerate(accs):
            record = {"args": args, "hparams": hparams or {"lr": 0.001}, "step": 10 * k, "epoch": k, "loss": 0.1}
            for env in range(n_envs):
                for split in ("in", "out"):
                    record[f"env{env}_{split}_acc"] = acc.get(f"env{env}_{split}_acc", 0.5)
            if last_extra and k == len(accs) - 1:
                record.update(last_extra)
            f.write(json.dumps(record, sort_keys=True) + "\n")
    if done:
        with open(os.path.join(run_dir, "done"), "w") as f:
            f.write("done")
    return run_dir


def write_wilds_run(sweep_dir, name: str, *, checkpoints: Sequence[dict], dataset: str = "waterbirds",
                    algorithm: str = "ERM", trial_seed: int = 0, hparams_seed: int = 0,
                    val_metric: str = "acc_wg", decreasing: bool = False) -> str:
    """A WILDS-protocol run: checkpoint ``k`` has the flattened metrics ``checkpoints[k]``
    (``{"val_acc_wg": 0.7, "test_acc_wg": 0.6, ...}``)."""
    run_dir = os.path.join(str(sweep_dir), name)
    os.makedirs(run_dir, exist_ok=True)
    args = {"algorithm": algorithm, "dataset": dataset, "trial_seed": trial_seed, "hparams_seed": hparams_seed,
            "hparams": None, "output_dir": run_dir, "seed": 0, "steps": 10 * len(checkpoints)}
    with open(os.path.join(run_dir, "results.jsonl"), "w", encoding="utf-8") as f:
        for k, metrics in enumerate(checkpoints):
            record = {"args": args, "hparams": {"lr": 0.001 * (hparams_seed + 1)}, "step": 10 * k,
                      "val_metric": val_metric, "val_metric_decreasing": decreasing, **metrics}
            f.write(json.dumps(record, sort_keys=True) + "\n")
    with open(os.path.join(run_dir, "done"), "w") as f:
        f.write("done")
    return run_dir


def write_subpopulation_run(sweep_dir, name: str, *, checkpoints: Sequence[dict],
                            dataset: str = "SpuriousTabularGroups", algorithm: str = "ERM", trial_seed: int = 0,
                            hparams_seed: int = 0, train_attr: str = "yes") -> str:
    """A subpopulation-protocol run: checkpoint ``k`` has ``checkpoints[k]`` over defaults of 0.5
    for the keys model selection needs (``{"val_worst_group_acc": 0.7, "test_ece": 0.1, ...}``)."""
    run_dir = os.path.join(str(sweep_dir), name)
    os.makedirs(run_dir, exist_ok=True)
    args = {"algorithm": algorithm, "dataset": dataset, "trial_seed": trial_seed, "hparams_seed": hparams_seed,
            "hparams": None, "output_dir": run_dir, "seed": 0, "steps": 10 * len(checkpoints),
            "train_attr": train_attr}
    required = ("val_avg_acc", "val_worst_group_acc", "val_worst_class_acc", "test_avg_acc", "test_worst_group_acc")
    with open(os.path.join(run_dir, "results.jsonl"), "w", encoding="utf-8") as f:
        for k, metrics in enumerate(checkpoints):
            record = {"args": args, "hparams": {"lr": 0.001 * (hparams_seed + 1)}, "step": 10 * k, "epoch": k,
                      "protocol": "subpopulation", **dict.fromkeys(required, 0.5), **metrics}
            f.write(json.dumps(record, sort_keys=True) + "\n")
    with open(os.path.join(run_dir, "done"), "w") as f:
        f.write("done")
    return run_dir
