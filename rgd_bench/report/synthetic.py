"""Write a synthetic sweep in DomainBed's run-directory format, or in that of runs trained
under WILDS's protocol (for benchmarks, tests, demos).

Accuracies are made up but structured: each algorithm has an offset, each hparams draw a
quality, and accuracy rises with the step, so model selection has something to choose.
"""
from __future__ import annotations

import itertools
import json
import os
import random
from typing import Sequence

from rgd_bench.rundir import RESULTS_NAME, job_id, mark_done


def synthetic_sweep(output_dir: str, datasets: Sequence[tuple[str, int]] = (("VLCS", 4),),
                    algorithms: Sequence[str] = ("ERM", "RGD"), n_hparams: int = 2, n_trials: int = 2,
                    n_checkpoints: int = 5, pairs: bool = True, algorithm_offsets: dict | None = None,
                    seed: int = 0) -> int:
    """Write the sweep under ``output_dir``; return the number of runs.

    ``datasets`` are (name, number of environments); every single test environment runs,
    and every pair too when ``pairs``.  ``algorithm_offsets`` adds an accuracy offset per
    algorithm (default: 0.01 per position in ``algorithms``).
    """
    rng = random.Random(seed)
    offsets = algorithm_offsets or {a: 0.01 * i for i, a in enumerate(algorithms)}
    n_runs = 0
    for (dataset, n_envs), algorithm in itertools.product(datasets, algorithms):
        test_env_sets = [[e] for e in range(n_envs)]
        if pairs:
            test_env_sets += [list(p) for p in itertools.combinations(range(n_envs), 2)]
        for test_envs, hparams_seed, trial_seed in itertools.product(
                test_env_sets, range(n_hparams), range(n_trials)):
            # As in DomainBed, a draw depends on (algorithm, hparams_seed, trial_seed) only.
            draw = random.Random(f"{seed} {algorithm} {hparams_seed} {trial_seed}")
            hparams = {"batch_size": 32, "lr": 10 ** draw.uniform(-5, -3.5),
                       "weight_decay": 10 ** draw.uniform(-6, -2), "resnet_dropout": draw.choice([0.0, 0.1, 0.5])}
            args = {"algorithm": algorithm, "checkpoint_freq": None, "data_dir": "data", "dataset": dataset,
                    "holdout_fraction": 0.2, "hparams": None, "hparams_seed": hparams_seed,
                    "save_model_every_checkpoint": False, "seed": rng.randrange(2 ** 31),
                    "skip_model_save": False, "steps": 100 * (n_checkpoints - 1) + 1,
                    "task": "domain_generalization", "test_envs": test_envs, "trial_seed": trial_seed,
                    "uda_holdout_fraction": 0}
            run_dir = os.path.join(output_dir, job_id(args))
            args["output_dir"] = run_dir
            os.makedirs(run_dir, exist_ok=True)
            base = 0.55 + offsets.get(algorithm, 0.0) + 0.05 * rng.random()
            with open(os.path.join(run_dir, RESULTS_NAME), "w") as f:
                for checkpoint in range(n_checkpoints):
                    progress = checkpoint / max(1, n_checkpoints - 1)
                    record = {"args": args, "hparams": hparams, "step": 100 * checkpoint,
                              "epoch": checkpoint * 0.5, "loss": 1.0 - 0.5 * progress,
                              "mem_gb": 1.5, "step_time": 0.1 + 0.01 * rng.random()}
                    for env in range(n_envs):
                        shift = -0.15 if env in test_envs else 0.0
                        for split in ("in", "out"):
                            acc = base + 0.3 * progress + shift + 0.04 * rng.gauss(0, 1)
                            record[f"env{env}_{split}_acc"] = min(1.0, max(0.0, acc))
                    f.write(json.dumps(record, sort_keys=True) + "\n")
            mark_done(run_dir, durable=False)
            n_runs += 1
    return n_runs


def corrupted_copy(sweep_dir: str, corrupted_dir: str, expected_dir: str, share: float = 0.01,
                   seed: int = 0) -> int:
    """Copy a sweep twice: into ``corrupted_dir`` with about ``share`` of its record lines
    damaged (cut short, a control byte inserted, or replaced by an object that is no record:
    each one certainly invalid), and into ``expected_dir`` without those lines (a run left with
    none is left out).  A report of the first must show the tables of the second and count
    exactly the damaged lines, which this returns."""
    rng = random.Random(seed)
    damaged = 0
    for name in sorted(os.listdir(sweep_dir)):
        source = os.path.join(sweep_dir, name)
        if not os.path.isfile(os.path.join(source, RESULTS_NAME)):
            continue
        with open(os.path.join(source, RESULTS_NAME), encoding="utf-8") as f:
            lines = f.read().splitlines()
        written, kept = [], []
        for line in lines:
            if rng.random() < share:
                damaged += 1
                written.append(rng.choice([line[:rng.randrange(len(line))], '{"a": 1}',
                                           line[:len(line) // 2] + "\x01" + line[len(line) // 2:]]))
            else:
                written.append(line)
                kept.append(line)
        for target, target_lines in ((corrupted_dir, written), (expected_dir, kept)):
            if not target_lines:
                continue
            run_dir = os.path.join(target, name)
            os.makedirs(run_dir)
            with open(os.path.join(run_dir, RESULTS_NAME), "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in target_lines))
            mark_done(run_dir, durable=False)
    return damaged


# The groups of synthetic_waterbirds' eval (label x background), as the engine records them.
WILDS_GROUPS = ("y:landbird_background:land", "y:landbird_background:water", "y:waterbird_background:land",
                "y:waterbird_background:water")


def synthetic_wilds_sweep(output_dir: str, algorithms: Sequence[str] = ("ERM", "GroupDRO", "RGD"),
                          n_hparams: int = 2, n_trials: int = 3, n_epochs: int = 4,
                          dataset: str = "synthetic_waterbirds", val_metric: str = "acc_wg",
                          algorithm_offsets: dict | None = None, seed: int = 0) -> int:
    """Write runs as the engine writes them under WILDS's protocol (records with ``val_metric``
    and each split's ``acc_avg``, ``acc_wg`` and per-group accuracies, evaluated at each
    epoch's end) under ``output_dir``; return the number of runs.  Hyperparameters of every
    kind vary: log-uniform (lr, RGD's rgd_clip), few integers (mlp_depth), strings
    (optimizer), booleans (nonlinear_classifier)."""
    rng = random.Random(seed)
    offsets = algorithm_offsets or {a: 0.05 * i for i, a in enumerate(algorithms)}
    n_runs = 0
    for algorithm, hparams_seed, trial_seed in itertools.product(algorithms, range(n_hparams), range(n_trials)):
        draw = random.Random(f"{seed} {algorithm} {hparams_seed} {trial_seed}")
        hparams = {"batch_size": 64, "lr": 10 ** draw.uniform(-4.5, -2.5), "mlp_depth": draw.choice([2, 3, 4]),
                   "optimizer": draw.choice(["adam", "sgd"]), "nonlinear_classifier": draw.choice([False, True])}
        if algorithm == "RGD":
            hparams["rgd_clip"] = 10 ** draw.uniform(-1, 1)
        args = {"algorithm": algorithm, "checkpoint_freq": None, "data_dir": None, "dataset": dataset,
                "groupby_fields": None, "hparams": None, "hparams_seed": hparams_seed,
                "save_model_every_checkpoint": False, "seed": rng.randrange(2 ** 31), "skip_model_save": False,
                "steps": None, "trial_seed": trial_seed, "uniform_over_groups": None}
        run_dir = os.path.join(output_dir, job_id(args))
        args["output_dir"] = run_dir
        os.makedirs(run_dir, exist_ok=True)
        base = 0.3 + offsets.get(algorithm, 0.0) + 0.1 * rng.random()
        steps_per_epoch = 2000 // hparams["batch_size"]
        with open(os.path.join(run_dir, RESULTS_NAME), "w") as f:
            for epoch in range(1, n_epochs + 1):
                step = epoch * steps_per_epoch - 1
                record = {"args": args, "hparams": hparams, "step": step, "epoch": step * 64 / 2000,
                          "loss": 1.0 / epoch, "mem_gb": 0.5, "step_time": 0.05, "val_metric": val_metric,
                          "val_metric_decreasing": False}
                for split, count in (("val", 100), ("test", 250)):
                    accs = [min(1.0, max(0.0, round(base + 0.1 * epoch * (g + 1) / 4 + 0.05 * rng.gauss(0, 1), 3)))
                            for g in range(len(WILDS_GROUPS))]
                    for group, acc in zip(WILDS_GROUPS, accs):
                        record[f"{split}_acc_{group}"] = acc
                        record[f"{split}_count_{group}"] = float(count)
                    record[f"{split}_acc_avg"] = sum(accs) / len(accs)  # balanced groups
                    record[f"{split}_acc_wg"] = min(accs)
                f.write(json.dumps(record, sort_keys=True) + "\n")
        mark_done(run_dir, durable=False)
        n_runs += 1
    return n_runs
