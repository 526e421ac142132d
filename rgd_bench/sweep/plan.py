"""Plan a sweep exactly as DomainBed's ``sweep.py`` does: jobs, their arguments, their ids.

A job's identity is the md5 of its canonical JSON arguments (``sort_keys=True``), which
names its run directory, so relaunching finds every job where it left it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

from rgd_bench._cli import lookup
from rgd_bench.errors import UsageError
from rgd_bench.hparams import parse_overrides, resolve_hparams, seed_hash
from rgd_bench.registry import ALGORITHMS, DATASETS


@dataclass
class SweepSpec:
    """What to sweep over; the fields are DomainBed's sweep arguments."""

    datasets: list[str]
    algorithms: list[str]
    output_dir: str
    n_hparams_from: int = 0
    n_hparams: int = 20
    n_trials: int = 3
    steps: int | None = None
    checkpoint_freq: int | None = None
    hparams: str | None = None
    holdout_fraction: float = 0.2
    single_test_envs: bool = False
    data_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    """One run of ``python -m rgd_bench.train`` in ``<sweep output>/<md5 of its args>``."""

    train_args: dict[str, Any]
    sweep_dir: str

    @property
    def job_id(self) -> str:
        return hashlib.md5(json.dumps(self.train_args, sort_keys=True).encode("utf-8")).hexdigest()

    @property
    def output_dir(self) -> str:
        return os.path.join(self.sweep_dir, self.job_id)

    @property
    def argv(self) -> list[str]:
        """The train command's arguments: a list, never a shell string."""
        argv = []
        for key, value in sorted({**self.train_args, "output_dir": self.output_dir}.items()):
            if value is None or value is False:
                continue
            argv.append(f"--{key}")
            if value is True:  # a switch such as --skip_model_save
                continue
            argv.extend(str(v) for v in value) if isinstance(value, list) else argv.append(str(value))
        return argv

    def describe(self) -> str:
        a = self.train_args
        where = f"test_envs={a['test_envs']} " if a.get("test_envs") is not None else ""
        return (f"{a['dataset']} {a['algorithm']} {where}"
                f"hparams_seed={a['hparams_seed']} trial_seed={a['trial_seed']}")


def all_test_env_combinations(n: int) -> Iterator[list[int]]:
    """Every single test environment and every pair (DomainBed's order)."""
    for i in range(n):
        yield [i]
        for j in range(i + 1, n):
            yield [i, j]


def validate(spec: SweepSpec) -> None:
    """Every problem a job would hit at start, found before any job is launched."""
    if not spec.datasets or not spec.algorithms:
        raise UsageError("A sweep needs at least one dataset and one algorithm.")
    dataset_classes = [lookup(DATASETS, name, "--datasets") for name in spec.datasets]
    algorithm_classes = [lookup(ALGORITHMS, name, "--algorithms") for name in spec.algorithms]
    for flag, value, low in (("--n_trials", spec.n_trials, 1), ("--n_hparams_from", spec.n_hparams_from, 0)):
        if value < low:
            raise UsageError(f"{flag} must be at least {low}. Got {value} instead.")
    if spec.n_hparams <= spec.n_hparams_from:
        raise UsageError(f"--n_hparams ({spec.n_hparams}) must be larger than --n_hparams_from "
                         f"({spec.n_hparams_from}): hparams seeds run from n_hparams_from to n_hparams - 1.")
    for flag, value in (("--steps", spec.steps), ("--checkpoint_freq", spec.checkpoint_freq)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be a positive integer. Got {value} instead.")
    if not 0.0 <= spec.holdout_fraction < 1.0:
        raise UsageError(f"--holdout_fraction must be in [0, 1). Got {spec.holdout_fraction} instead.")
    try:
        overrides = parse_overrides(spec.hparams)
        for algorithm_cls in algorithm_classes:
            for dataset_cls in dataset_classes:
                resolve_hparams(algorithm_cls, dataset_cls, 0, 0, overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None
    for dataset_cls in dataset_classes:
        if dataset_cls.NEEDS_DATA_DIR and spec.data_dir is None:
            raise UsageError(f"--data_dir is required: {dataset_cls.__name__} reads its files from it.")


def plan_jobs(spec: SweepSpec) -> list[Job]:
    """DomainBed's ``make_args_list``: trials x datasets x algorithms x test envs x hparams."""
    validate(spec)
    jobs = []
    for trial_seed in range(spec.n_trials):
        for dataset in spec.datasets:
            dataset_cls = DATASETS.get(dataset)
            wilds = getattr(dataset_cls, "PROTOCOL", "domainbed") == "wilds"
            n_envs = len(dataset_cls.ENVIRONMENTS)
            if wilds:  # WILDS's splits are fixed: one job per (algorithm, hparams, trial)
                test_env_sets = [None]
            elif spec.single_test_envs or n_envs < 3:
                test_env_sets = [[i] for i in range(n_envs)]
            else:
                test_env_sets = list(all_test_env_combinations(n_envs))
            for algorithm in spec.algorithms:
                for test_envs in test_env_sets:
                    for hparams_seed in range(spec.n_hparams_from, spec.n_hparams):
                        args = {
                            "dataset": dataset, "algorithm": algorithm, "test_envs": test_envs,
                            "holdout_fraction": None if wilds else spec.holdout_fraction,
                            "hparams_seed": hparams_seed, "data_dir": spec.data_dir, "trial_seed": trial_seed,
                            "seed": seed_hash(dataset, algorithm, test_envs, hparams_seed, trial_seed),
                        }
                        for key in ("steps", "checkpoint_freq", "hparams"):
                            if getattr(spec, key) is not None:
                                args[key] = getattr(spec, key)
                        args.update(spec.extra)
                        jobs.append(Job(args, spec.output_dir))
    return jobs
