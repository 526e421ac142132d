"""Plan a sweep exactly as DomainBed's ``sweep.py`` does: jobs, their arguments, their ids.

A job's id is the md5 of its canonical JSON arguments without their locations
(``rundir.job_id``), which names its run directory, so relaunching finds every job where
it left it, even after the sweep or its data moved.
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rgd_bench.engine.config import FLAG_SPECS, RunConfig, check_fields
from rgd_bench.engine.protocols import PROTOCOL_FLAGS, protocol_of
from rgd_bench.engine.protocols.subpopulation import TRAIN_ATTR
from rgd_bench.engine.resolution import resolve
from rgd_bench.errors import UsageError
from rgd_bench.hparams import seed_hash
from rgd_bench.plugins import import_plugins, resolve_plugins
from rgd_bench.registry import ALGORITHMS, DATASETS, lookup
from rgd_bench.rundir import job_id, legacy_job_id
from rgd_bench.sweep.keys import Option, field_names, options_of, sweep_key
from rgd_bench.values import AT_LEAST_ONE, NON_NEGATIVE, Spec

NAMES = Spec(list, item=Spec(str))
# The train flags the sweep sets for every job itself; [train_args] may set the others.
PLANNED_FLAGS = ("dataset", "algorithm", "test_envs", "holdout_fraction", "hparams_seed", "trial_seed", "seed",
                 "data_dir", "output_dir", "steps", "checkpoint_freq", "hparams", "plugins", "train_attr")
# Planning holds every job in memory (about a kilobyte each); DomainBed's full benchmark with
# all of its algorithms is about 200,000 jobs.
MAX_JOBS = 1_000_000


@dataclass
class SweepSpec:
    """What to sweep over; the fields are DomainBed's sweep arguments.

    Each field is a sweep key, declared here once with its Spec and help: ``--name`` on the
    command line and ``name`` in a sweep file (``extra`` is the file's ``[train_args]`` table),
    checked against its Spec there and by ``validate`` (``SPEC_KEYS``, and the sweep's --help)."""

    datasets: list[str] = sweep_key(NAMES, "datasets to sweep over (listed below)")
    algorithms: list[str] = sweep_key(NAMES, "algorithms to sweep over (listed below)")
    output_dir: str = sweep_key(Spec(str), "the sweep directory: one run directory per job")
    n_hparams_from: int = sweep_key(Spec(int, NON_NEGATIVE), "first hparams_seed", default=0)
    n_hparams: int = sweep_key(Spec(int, AT_LEAST_ONE), "random hyperparameter draws per job (hparams_seeds)",
                               default=20)
    n_trials: int = sweep_key(Spec(int, AT_LEAST_ONE), "trials (trial_seeds) of each draw", default=3)
    steps: int | None = sweep_key(FLAG_SPECS["steps"], "steps per run", default=None)
    checkpoint_freq: int | None = sweep_key(FLAG_SPECS["checkpoint_freq"], "steps between checkpoints", default=None)
    hparams: str | None = sweep_key(Spec(str), "JSON object of hyperparameter overrides for every job", default=None)
    holdout_fraction: float = sweep_key(FLAG_SPECS["holdout_fraction"],
                                        "DomainBed datasets: share of each environment held out", default=0.2)
    train_attr: list[str] = sweep_key(Spec(list, item=Spec(str, choices=TRAIN_ATTR)),
                                      "subpopulation datasets: the attribute settings to sweep (SubpopBench's "
                                      "--train_attr; a dataset without attributes runs once)",
                                      default_factory=lambda: list(TRAIN_ATTR))
    single_test_envs: bool = sweep_key(Spec(bool), "only single test environments; off: singles and pairs, "
                                                   "as DomainBed", default=False)
    data_dir: str | None = sweep_key(Spec(str), "root of on-disk datasets", default=None)
    extra: dict[str, Any] = sweep_key(Spec(dict), "other flags of python -m rgd_bench.train, for every job "
                                                  "(a sweep file's table)", name="train_args", default_factory=dict)
    plugins: list[str] | None = sweep_key(NAMES, ".py files or modules that register your algorithms and "
                                                 "datasets, imported by every job (files by absolute path; not "
                                                 "part of a job's id)", unset="none", default=None)


# The plan's keys, read from SweepSpec: the sweep command's flags and a sweep file's keys are
# checked against these, and so is a SweepSpec made in Python.
SPEC_OPTIONS: dict[str, Option] = options_of(SweepSpec)
SPEC_KEYS: dict[str, Spec] = {name: option.spec for name, option in SPEC_OPTIONS.items()}
SPEC_FIELDS: dict[str, str] = field_names(SweepSpec)  # the key train_args is the field extra


@dataclass
class Job:
    """One run of ``python -m rgd_bench.train`` in ``<sweep output>/<md5 of its args>``."""

    train_args: dict[str, Any]
    sweep_dir: str

    @cached_property
    def job_id(self) -> str:
        return job_id(self.train_args)

    @property
    def output_dir(self) -> str:
        return os.path.join(self.sweep_dir, self.job_id)

    @property
    def legacy_output_dir(self) -> str:
        """Where rgd_bench 0.1 put this job (its id still held ``data_dir``)."""
        return os.path.join(self.sweep_dir, legacy_job_id(self.train_args))

    def existing_dir(self) -> str:
        """The job's run directory: ``output_dir``, or the legacy one while not yet adopted."""
        if not os.path.isdir(self.output_dir) and os.path.isdir(self.legacy_output_dir):
            return self.legacy_output_dir
        return self.output_dir

    @property
    def argv(self) -> list[str]:
        """The train command's arguments: a list, never a shell string."""
        return train_argv({**self.train_args, "output_dir": self.output_dir})

    @property
    def config(self) -> RunConfig:
        """What ``argv`` says, for running the job in a Python process."""
        return RunConfig.from_args({**self.train_args, "output_dir": self.output_dir})

    def describe(self) -> str:
        a = self.train_args
        where = f"test_envs={a['test_envs']} " if a.get("test_envs") is not None else ""
        where += f"train_attr={a['train_attr']} " if a.get("train_attr") is not None else ""
        return (f"{a['dataset']} {a['algorithm']} {where}"
                f"hparams_seed={a['hparams_seed']} trial_seed={a['trial_seed']}")


def train_argv(args: dict[str, Any]) -> list[str]:
    """``python -m rgd_bench.train`` flags for ``args`` (None and false left out, true a switch)."""
    argv = []
    for key, value in sorted(args.items()):
        if value is None or value is False:
            continue
        argv.append(f"--{key}")
        if value is True:  # a switch such as --skip_model_save
            continue
        argv.extend(str(v) for v in value) if isinstance(value, list) else argv.append(str(value))
    return argv


def test_env_sets(spec: SweepSpec, dataset_cls: type) -> list[list[int] | None]:
    """The test environments of a dataset's jobs, as its protocol expands them."""
    return protocol_of(dataset_cls).test_env_sets(dataset_cls, spec.single_test_envs)


def variants(spec: SweepSpec, dataset_cls: type) -> list[dict[str, Any]]:
    """The protocol flags that vary between a dataset's jobs besides the test environments
    (the subpopulation protocol's attribute settings); ``[{}]`` where none do."""
    return protocol_of(dataset_cls).sweep_variants(dataset_cls, spec)


def job_counts(spec: SweepSpec) -> tuple[int, int, int, int]:
    """(trials, dataset x test-environment sets x protocol variants, algorithms, hparams draws):
    their product is the number of jobs, counted without planning them."""
    test_env_set_count = sum(len(test_env_sets(spec, DATASETS.get(name))) * len(variants(spec, DATASETS.get(name)))
                             for name in spec.datasets)
    return spec.n_trials, test_env_set_count, len(spec.algorithms), max(0, spec.n_hparams - spec.n_hparams_from)


def validate(spec: SweepSpec) -> None:
    """Every problem of the sweep's values and of its jobs' flags, found before anything is
    planned or written."""
    for key, option in SPEC_OPTIONS.items():
        value = getattr(spec, SPEC_FIELDS[key])
        message = None if value is None and not option.required else option.spec.message(f"--{key}", value)
        if message:
            raise UsageError(message)
    import_plugins(spec.plugins)  # before the names they register are looked up
    for name in spec.datasets:
        lookup(DATASETS, name, "--datasets")
    for name in spec.algorithms:
        lookup(ALGORITHMS, name, "--algorithms")
    if spec.n_hparams <= spec.n_hparams_from:
        raise UsageError(f"--n_hparams ({spec.n_hparams}) must be larger than --n_hparams_from "
                         f"({spec.n_hparams_from}): hparams seeds run from n_hparams_from to n_hparams - 1.")
    _check_train_args(spec.extra)
    counts = job_counts(spec)
    n_jobs = math.prod(counts)
    if n_jobs > MAX_JOBS:
        raise UsageError(f"This sweep has {n_jobs:,} jobs ({counts[0]} trials x {counts[1]} dataset, "
                         f"test-environment and attribute settings x {counts[2]} algorithms x {counts[3]} hparams draws); a sweep "
                         f"may have at most {MAX_JOBS:,}.")
    for name in spec.datasets:
        if DATASETS.get(name).NEEDS_DATA_DIR and spec.data_dir is None:
            raise UsageError(f"--data_dir is required: {name} reads its files from it.")


def _check_train_args(extra: dict[str, Any]) -> None:
    """[train_args]: flags of the train command the sweep does not set itself, with values of
    the kinds a command line can hold, checked by the train command's own rules."""
    for key, value in extra.items():
        if key in PLANNED_FLAGS:
            hint = f"; set the sweep key {key!r} instead" if key in SPEC_KEYS else ""
            raise UsageError(f"[train_args] sets {key!r}, which the sweep sets for each job itself{hint}.")
        scalar = (str, int, float)
        if not (isinstance(value, scalar) or (isinstance(value, list) and value
                                              and all(isinstance(v, scalar) and not isinstance(v, bool)
                                                      for v in value))):
            raise UsageError(f"[train_args] {key} must be a string, number, boolean or list of them. "
                             f"Got {value!r} instead.")
    try:
        check_fields(RunConfig.from_args(extra))
        for key, value in extra.items():
            if key in PROTOCOL_FLAGS:
                PROTOCOL_FLAGS[key].checked(key, value)
    except UsageError as error:
        raise UsageError(f"[train_args]: {error}") from None


def _check_jobs(jobs: list[Job]) -> None:
    """Each (dataset, algorithm)'s first job through the train command's own checks."""
    seen = set()
    for job in jobs:
        pair = (job.train_args["dataset"], job.train_args["algorithm"])
        if pair not in seen:
            seen.add(pair)
            resolve(job.config)


def plan_jobs(spec: SweepSpec) -> list[Job]:
    """DomainBed's ``make_args_list``: trials x datasets x algorithms x test envs x hparams."""
    validate(spec)
    # Absolute paths, so that a job in another process, directory or host finds the files; they
    # are locations, left out of the job id (rundir.LOCATION_ARGS).
    plugins = resolve_plugins(spec.plugins)
    jobs = []
    for trial_seed in range(spec.n_trials):
        for dataset in spec.datasets:
            dataset_cls = DATASETS.get(dataset)
            protocol = protocol_of(dataset_cls)
            for algorithm in spec.algorithms:
                for test_envs, variant in itertools.product(test_env_sets(spec, dataset_cls),
                                                            variants(spec, dataset_cls)):
                    for hparams_seed in range(spec.n_hparams_from, spec.n_hparams):
                        args = {
                            # holdout_fraction None unless the protocol sets it: job ids have always held it
                            "dataset": dataset, "algorithm": algorithm, "test_envs": test_envs, "holdout_fraction": None,
                            "hparams_seed": hparams_seed, "data_dir": spec.data_dir, "trial_seed": trial_seed,
                            "seed": seed_hash(dataset, algorithm, test_envs, hparams_seed, trial_seed),
                            **protocol.sweep_args(spec.holdout_fraction), **variant,
                        }
                        for key in ("steps", "checkpoint_freq", "hparams"):
                            if getattr(spec, key) is not None:
                                args[key] = getattr(spec, key)
                        if plugins:
                            args["plugins"] = plugins
                        args.update(spec.extra)
                        jobs.append(Job(args, spec.output_dir))
    _check_jobs(jobs)
    return jobs
