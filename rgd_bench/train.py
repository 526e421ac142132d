"""``python -m rgd_bench.train``: one run, with DomainBed's ``train.py`` protocol and flags.

Every problem with the arguments is found before anything is written, and reported as
one line with exit code 2.  Running the same command again on an incomplete run
directory resumes it from its last checkpoint.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from rgd_bench._cli import ArgumentParser, lookup, name_list, run_cli
from rgd_bench.errors import UsageError
from rgd_bench.hparams import parse_overrides, resolve_hparams
from rgd_bench.plugins import import_plugins
from rgd_bench.registry import ALGORITHMS, DATASETS
from rgd_bench.values import NON_NEGATIVE, OPEN_UNIT_INTERVAL, POSITIVE, Range, Spec

# Flags that change where or how fast a run executes, never its results: they are left
# out of the recorded ``args`` (and so out of a sweep's job identity).
EXECUTION_FLAGS = ("device", "num_workers", "eval_batch_size")
# Flags of one protocol only: the other protocol's runs neither take nor record them.
DOMAINBED_FLAGS = ("test_envs", "holdout_fraction")
WILDS_FLAGS = ("groupby_fields", "uniform_over_groups")
DOMAINBED_DEFAULTS = {"test_envs": [0], "holdout_fraction": 0.2}
# What each numeric flag allows, declared once: the sweep checks its keys of the same names
# (and its [train_args]) against these too.
SEED = Spec(int, Range(0, 2**32 - 1))  # numpy's seeds end there
FLAG_SPECS = {
    "hparams_seed": SEED, "trial_seed": SEED, "seed": SEED,
    "steps": Spec(int, POSITIVE), "checkpoint_freq": Spec(int, POSITIVE),
    "test_envs": Spec(int, NON_NEGATIVE),  # each of them; the dataset says how many there are
    # (0, 1): DomainBed divides by the size of every held-out split, so none may be empty.
    "holdout_fraction": Spec(float, OPEN_UNIT_INTERVAL),
    "num_workers": Spec(int, NON_NEGATIVE), "eval_batch_size": Spec(int, POSITIVE),
}


# What leaving out a flag whose parser default is None means; the sweep's --help says the same.
UNSET_MEANS = {
    "data_dir": "none; the embedded and synthetic datasets need none",
    "hparams": "none: the defaults, or the draw of --hparams_seed",
    "steps": "the dataset's N_STEPS; WILDS datasets: N_EPOCHS epochs",
    "checkpoint_freq": "the dataset's CHECKPOINT_FREQ; WILDS datasets: every epoch",
    "test_envs": " ".join(map(str, DOMAINBED_DEFAULTS["test_envs"])),
    "holdout_fraction": str(DOMAINBED_DEFAULTS["holdout_fraction"]),
    "num_workers": "the dataset's N_WORKERS: 0 in memory, up to 8 for images on disk",
}


def _default(flag: str) -> str:
    return f"(default: {UNSET_MEANS[flag]})"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m rgd_bench.train", before_help=_list_registries,
                            usage="%(prog)s [--dataset NAME] [--algorithm NAME] [options]",
                            description="Train one run into --output_dir: DomainBed's protocol on DomainBed "
                                        "datasets, WILDS's on WILDS datasets. Running it again resumes it.")
    parser.add_argument("--data_dir", type=str, default=None,
                        help=f"root of on-disk datasets {_default('data_dir')}")
    parser.add_argument("--dataset", type=str, default="ColoredMNIST5k", help="a dataset listed below")
    parser.add_argument("--algorithm", type=str, default="ERM", help="an algorithm listed below")
    parser.add_argument("--hparams", type=str, default=None,
                        help=f"JSON object of hyperparameter overrides {_default('hparams')}")
    spec = {name: {"type": spec.parse} for name, spec in FLAG_SPECS.items()}
    parser.add_argument("--hparams_seed", default=0, help="seed of the random hparams draw; 0: the defaults",
                        **spec["hparams_seed"])
    parser.add_argument("--trial_seed", default=0, help="seeds the splits and the random hparams",
                        **spec["trial_seed"])
    parser.add_argument("--seed", default=0, help="seed for everything else", **spec["seed"])
    parser.add_argument("--steps", default=None, help=f"number of steps {_default('steps')}", **spec["steps"])
    parser.add_argument("--checkpoint_freq", default=None, **spec["checkpoint_freq"],
                        help=f"evaluate, record and checkpoint every N steps {_default('checkpoint_freq')}")
    parser.add_argument("--test_envs", nargs="+", default=None, **spec["test_envs"],
                        help=f"DomainBed datasets: held-out environments {_default('test_envs')}")
    parser.add_argument("--output_dir", type=str, default="train_output", help="the run directory")
    parser.add_argument("--holdout_fraction", default=None, **spec["holdout_fraction"],
                        help=f"DomainBed datasets: share of each environment held out, in (0, 1) "
                             f"{_default('holdout_fraction')}")
    parser.add_argument("--groupby_fields", type=str, nargs="+", default=None,
                        help="WILDS datasets: metadata fields whose combinations are the groups "
                             "(default: the dataset's, as in WILDS's configs)")
    parser.add_argument("--uniform_over_groups", choices=("true", "false"), default=None,
                        help="WILDS datasets: draw batches uniformly over groups (default: the "
                             "algorithm's; true for GroupDRO, as WILDS)")
    parser.add_argument("--skip_model_save", action="store_true", help="do not write model.pkl")
    parser.add_argument("--save_model_every_checkpoint", action="store_true",
                        help="also write model_step<N>.pkl at every checkpoint")
    parser.add_argument("--device", type=device_flag, default="auto",
                        help="auto (cuda when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--num_workers", default=None, **spec["num_workers"],
                        help=f"loader worker processes for on-disk datasets {_default('num_workers')}")
    parser.add_argument("--eval_batch_size", default=128, **spec["eval_batch_size"],
                        help="batch size when evaluating")
    parser.add_argument("--plugins", nargs="+", default=None, metavar="FILE_OR_MODULE",
                        help="a .py file or module to import first: it registers your algorithms and datasets "
                             "(default: none)")
    return parser


def registry_lines(namespace: argparse.Namespace) -> list[str]:
    """The algorithms and datasets a run may name: the registries, with installed plugins and
    those of --plugins (when given before --help) imported."""
    plugins = getattr(namespace, "plugins", None)
    if plugins:
        from rgd_bench.plugins import import_plugins

        import_plugins(plugins)
    return [name_list("Algorithms", ALGORITHMS.names()), name_list("Datasets", DATASETS.names())]


def _list_registries(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    parser.epilog = "\n\n".join(registry_lines(namespace))


@dataclass
class RunPlan:
    """A validated run: the parsed arguments and what they resolve to."""

    args: argparse.Namespace
    algorithm_cls: type
    dataset_cls: type
    hparams: dict[str, Any]
    device: str

    @property
    def recorded_args(self) -> dict[str, Any]:
        other_protocol = DOMAINBED_FLAGS if self.is_wilds else WILDS_FLAGS
        # plugins only when given: the records of runs without them stay as they were.
        return {k: v for k, v in vars(self.args).items()
                if k not in EXECUTION_FLAGS + other_protocol and not (k == "plugins" and v is None)}

    @property
    def is_wilds(self) -> bool:
        return getattr(self.dataset_cls, "PROTOCOL", "domainbed") == "wilds"


def _check_test_envs(test_envs: Sequence[int], dataset_cls: type) -> None:
    n = len(dataset_cls.ENVIRONMENTS)
    allowed = f"0..{n - 1} ({', '.join(f'{i}={e}' for i, e in enumerate(dataset_cls.ENVIRONMENTS))})"
    bad = [e for e in test_envs if not 0 <= e < n]
    if bad:
        raise UsageError(f"--test_envs {bad[0]} is out of range for {dataset_cls.__name__}; allowed: {allowed}.")
    if len(set(test_envs)) != len(test_envs):
        raise UsageError(f"--test_envs {' '.join(map(str, test_envs))} repeats an environment.")
    if len(set(test_envs)) >= n:
        raise UsageError(f"--test_envs {' '.join(map(str, test_envs))} leaves no training environment "
                         f"for {dataset_cls.__name__}; at most {n - 1} of {allowed} may be test envs.")


def _check_protocol_flags(args: argparse.Namespace, dataset_cls: type) -> None:
    """Refuse the other protocol's flags; fill DomainBed's defaults for DomainBed datasets."""
    wilds = getattr(dataset_cls, "PROTOCOL", "domainbed") == "wilds"
    for flag in WILDS_FLAGS if not wilds else DOMAINBED_FLAGS:
        if getattr(args, flag) is not None:
            kind, allowed = ("a WILDS", "DomainBed datasets") if wilds else ("a DomainBed", "WILDS datasets")
            raise UsageError(f"--{flag} does not apply to {args.dataset}, {kind} dataset; it is for {allowed} only.")
    if not wilds:
        for flag, default in DOMAINBED_DEFAULTS.items():
            if getattr(args, flag) is None:
                setattr(args, flag, list(default) if isinstance(default, list) else default)
        _check_test_envs(args.test_envs, dataset_cls)


def check_writable(output_dir: str, flag: str = "--output_dir") -> None:
    """Fail unless ``output_dir`` is, or can be created as, a writable directory."""
    path = os.path.abspath(output_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {output_dir!r} exists and is not a directory.")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {output_dir!r} cannot be written: {existing!r} is not a writable directory.")


def device_flag(text: str) -> str:
    """An argparse ``type=`` for --device: its form only (whether CUDA is there is asked at run time)."""
    if text in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N. Got {text!r} instead.")


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {requested}: CUDA is not available on this machine; use cpu or auto.")
    return requested


def check_args(args: argparse.Namespace) -> tuple[type, type, dict[str, Any]]:
    """The dataset and algorithm classes and the hyperparameters of parsed arguments; a
    UsageError names the first problem.  Reads and writes nothing (a sweep calls it for its
    jobs before it launches any), except the plugins, which it imports (once per process) and
    names by absolute path in ``args``."""
    args.plugins = import_plugins(args.plugins)
    dataset_cls = lookup(DATASETS, args.dataset)
    algorithm_cls = lookup(ALGORITHMS, args.algorithm)
    _check_protocol_flags(args, dataset_cls)
    try:
        hparams = resolve_hparams(algorithm_cls, dataset_cls, args.hparams_seed, args.trial_seed,
                                  parse_overrides(args.hparams))
    except ValueError as error:
        raise UsageError(str(error)) from None
    return dataset_cls, algorithm_cls, hparams


def plan_run(argv: Sequence[str] | None = None) -> RunPlan:
    """Parse and validate the command line; raise UsageError naming the first problem."""
    args = build_parser().parse_args(argv)
    dataset_cls, algorithm_cls, hparams = check_args(args)
    check_writable(args.output_dir)
    return RunPlan(args, algorithm_cls, dataset_cls, hparams, resolve_device(args.device))


def train(argv: Sequence[str] | None = None):
    """Plan, validate and run; returns the engine's ``RunSummary``."""
    from rgd_bench._engine import run

    return run(plan_run(argv))


def main(argv: Sequence[str] | None = None) -> None:
    if os.environ.get("RGD_BENCH_DIE_WITH_PARENT") == "1":  # set by sweep launchers
        from rgd_bench._runlock import die_with_parent

        die_with_parent()
    run_cli(lambda: train(argv).exit_code, prog="python -m rgd_bench.train")


if __name__ == "__main__":
    main(sys.argv[1:])
