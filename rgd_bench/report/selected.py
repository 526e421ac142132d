"""The hyperparameters each selection method chose, with the command that re-runs each choice.

One entry per (selection method, dataset, algorithm, test environment), listing per trial
seed the chosen run: its hparams, the chosen checkpoint, and an argv for
``python -m rgd_bench.train`` with the run's own arguments (so the same seeds draw the same
hyperparameters and splits).  The re-run goes to ``reruns/<run directory name>``.
"""
from __future__ import annotations

import collections
import json
import math
import os
import shlex
from typing import Any

from rgd_bench.report.build import Report
from rgd_bench.report.records import Run

RERUN_DIR = "reruns"
# Recorded arguments passed back as flags, when present and not None.
_VALUE_ARGS = ("data_dir", "dataset", "algorithm", "hparams", "hparams_seed", "trial_seed", "seed", "steps",
               "checkpoint_freq", "holdout_fraction", "uniform_over_groups", "train_attr")
_LIST_ARGS = ("test_envs", "groupby_fields", "plugins")  # plugins: absolute paths, as recorded
_SWITCH_ARGS = ("skip_model_save", "save_model_every_checkpoint")


def rerun_argv(run: Run) -> list[str]:
    args = run.args
    argv = ["python", "-m", "rgd_bench.train"]
    for key in _VALUE_ARGS:
        if args.get(key) is not None:
            value = args[key]
            argv += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    for key in _LIST_ARGS:
        if args.get(key):
            argv += [f"--{key}", *(str(v) for v in args[key])]
    argv += [f"--{key}" for key in _SWITCH_ARGS if args.get(key)]
    return argv + ["--output_dir", os.path.join(RERUN_DIR, os.path.basename(os.path.normpath(run.directory)))]


def selected_hparams(report: Report) -> list[dict[str, Any]]:
    entries = []
    order = {board.method.key: i for i, board in enumerate(report.boards)}
    for board in report.boards:
        environments = {table.dataset: table.environments for table in board.tables}
        entries += _entries(board.method.key, board.method.name, board.choices, environments)
    for board in report.metric_boards:
        order[board.key] = len(order)
        entries += _entries(board.key, board.name, board.choices, {})
    return sorted(entries, key=lambda e: (order[e["selection"]], e["dataset"], e["algorithm"],
                                          -1 if e["test_env"] is None else e["test_env"]))


def _entries(key: str, name: str, choices: dict, environments: dict) -> list[dict[str, Any]]:
    trials = collections.defaultdict(list)
    for (trial, dataset, algorithm, env), choice in choices.items():
        argv = rerun_argv(choice.run)
        trials[(dataset, algorithm, env)].append({
            "trial_seed": trial, "hparams_seed": choice.run.hparams_seed, "hparams": choice.run.hparams,
            "selected_step": choice.step, "val_acc": choice.val_acc,
            "test_acc": None if math.isnan(choice.test_acc) else choice.test_acc,
            "run_dir": choice.run.directory, "argv": argv, "command": shlex.join(argv)})
    return [{"selection": key, "selection_name": name, "dataset": dataset, "algorithm": algorithm,
             "test_env": env, "environment": None if env is None else environments[dataset][env],
             "trials": sorted(chosen, key=lambda t: t["trial_seed"])}
            for (dataset, algorithm, env), chosen in trials.items()]


def render_selected_hparams(report: Report) -> str:
    return json.dumps(selected_hparams(report), indent=1) + "\n"
