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

from rgd_bench._cli import ArgumentParser, lookup, run_cli
from rgd_bench.errors import UsageError
from rgd_bench.hparams import parse_overrides, resolve_hparams
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


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m rgd_bench.train",
                            description="Train one run (DomainBed protocol) into --output_dir.")
    parser.add_argument("--data_dir", type=str, default=None,
                        help="root of on-disk datasets (not needed for the embedded ones)")
    parser.add_argument("--dataset", type=str, default="ColoredMNIST5k")
    parser.add_argument("--algorithm", type=str, default="ERM")
    parser.add_argument("--hparams", type=str, default=None, help="JSON object of hyperparameter overrides")
    spec = {name: {"type": spec.parse} for name, spec in FLAG_SPECS.items()}
    parser.add_argument("--hparams_seed", default=0, help="seed for random hparams (0: defaults)",
                        **spec["hparams_seed"])
    parser.add_argument("--trial_seed", default=0, help="seeds the splits and the random hparams",
                        **spec["trial_seed"])
    parser.add_argument("--seed", default=0, help="seed for everything else", **spec["seed"])
    parser.add_argument("--steps", default=None, help="number of steps (default: per dataset)", **spec["steps"])
    parser.add_argument("--checkpoint_freq", default=None, **spec["checkpoint_freq"],
                        help="evaluate, record and checkpoint every N steps (default: per dataset)")
    parser.add_argument("--test_envs", nargs="+", default=None, **spec["test_envs"],
                        help="DomainBed datasets: held-out environments (default: 0)")
    parser.add_argument("--output_dir", type=str, default="train_output")
    parser.add_argument("--holdout_fraction", default=None, **spec["holdout_fraction"],
                        help="DomainBed datasets: share of each environment held out, in (0, 1) (default: 0.2)")
    parser.add_argument("--groupby_fields", type=str, nargs="+", default=None,
                        help="WILDS datasets: metadata fields whose combinations are the groups "
                             "(default: the dataset's, as in WILDS's configs)")
    parser.add_argument("--uniform_over_groups", choices=("true", "false"), default=None,
                        help="WILDS datasets: draw batches uniformly over groups (default: the "
                             "algorithm's; true for GroupDRO, as WILDS)")
    parser.add_argument("--skip_model_save", action="store_true", help="do not write model.pkl")
    parser.add_argument("--save_model_every_checkpoint", action="store_true")
    parser.add_argument("--device", type=device_flag, default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--num_workers", default=None, **spec["num_workers"],
                        help="loader worker processes for on-disk datasets (default: per dataset)")
    parser.add_argument("--eval_batch_size", default=128, **spec["eval_batch_size"])
    return parser


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
        return {k: v for k, v in vars(self.args).items() if k not in EXECUTION_FLAGS + other_protocol}

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
    jobs before it launches any)."""
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
