"""``python -m rgd_bench.sweep {launch,status,list,delete_incomplete} [SWEEP.toml] [flags]``.

A sweep is DomainBed's flags, or one TOML file holding the same keys; flags given on the
command line override the file.  With neither, ``launch`` runs the default sweep on the
embedded data (``DEFAULT_SWEEP``, mirrored by ``sweeps/default.toml``), and ``status``,
``list`` and ``delete_incomplete`` act on it.
"""
from __future__ import annotations

import collections
import json
import os
import shlex
import shutil
import sys
from typing import Any, Sequence

from rgd_bench._cli import ArgumentParser, run_cli
from rgd_bench.errors import UsageError
from rgd_bench.sweep.launchers import launcher_class, make_launcher
from rgd_bench.sweep.jobs import DONE, FAILED, INCOMPLETE, NOT_LAUNCHED, RUNNING, STATES, failure_of, job_state
from rgd_bench.sweep.plan import SweepSpec, plan_jobs
from rgd_bench.train import check_writable

PROG = "python -m rgd_bench.sweep"
COMMANDS = ("launch", "status", "list", "delete_incomplete")
DEFAULT_SWEEP: dict[str, Any] = {
    "datasets": ["SpuriousTabular"],
    "algorithms": ["ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"],
    "single_test_envs": True,
    "n_hparams_from": 0,
    "n_hparams": 3,
    "n_trials": 2,
    "output_dir": "sweep_output/default",
    "launcher": "multiprocess",
}
SPEC_KEYS = {"datasets", "algorithms", "n_hparams_from", "n_hparams", "n_trials", "steps", "checkpoint_freq",
             "hparams", "holdout_fraction", "single_test_envs", "data_dir", "output_dir", "train_args"}
RUN_KEYS = {"launcher", "workers", "retries", "skip_confirmation", "partition", "time_min", "gpus_per_job",
            "cpus_per_job", "mem_gb", "cluster", "ray_address"}
KEY_TYPES = {"datasets": list, "algorithms": list, "n_hparams_from": int, "n_hparams": int, "n_trials": int,
             "steps": int, "checkpoint_freq": int, "hparams": str, "holdout_fraction": (int, float),
             "single_test_envs": bool, "data_dir": str, "output_dir": str, "train_args": dict,
             "launcher": str, "workers": int, "retries": int, "skip_confirmation": bool, "partition": str,
             "time_min": int, "gpus_per_job": int, "cpus_per_job": int, "mem_gb": int, "cluster": str,
             "ray_address": str}
KEY_TYPE_NAMES = {list: "a list of names", int: "an integer", str: "a string", (int, float): "a number",
                  bool: "true or false", dict: "a table"}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description="Plan, launch and inspect sweeps of training runs.")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("sweep_file", nargs="?", help="a TOML file with the sweep's keys (see sweeps/)")
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--algorithms", nargs="+")
    parser.add_argument("--n_hparams_from", type=int)
    parser.add_argument("--n_hparams", type=int)
    parser.add_argument("--n_trials", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--checkpoint_freq", type=int)
    parser.add_argument("--hparams", type=str, help="JSON object of hyperparameter overrides for every job")
    parser.add_argument("--holdout_fraction", type=float)
    parser.add_argument("--single_test_envs", action="store_true", default=None,
                        help="only single test environments (default: singles and pairs, as DomainBed)")
    parser.add_argument("--data_dir", type=str)
    parser.add_argument("--output_dir", type=str)
    parser.add_argument("--launcher", type=str)
    parser.add_argument("--workers", type=int, help="multiprocess: worker processes")
    parser.add_argument("--retries", type=int, help="extra attempts for a job that fails (default 0)")
    slurm = parser.add_argument_group("submitit (Slurm) and ray launchers")
    slurm.add_argument("--partition", type=str, help="Slurm partition")
    slurm.add_argument("--time_min", type=int, help="Slurm time limit per job, minutes (requeued on timeout)")
    slurm.add_argument("--gpus_per_job", type=int)
    slurm.add_argument("--cpus_per_job", type=int)
    slurm.add_argument("--mem_gb", type=int)
    slurm.add_argument("--cluster", type=str, help="submitit executor: slurm (default when present), local, debug")
    slurm.add_argument("--ray_address", type=str, help="ray.init address (default: start a local Ray)")
    parser.add_argument("--skip_confirmation", action="store_true", default=None)
    return parser


def load_sweep_file(path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except OSError as error:
        raise UsageError(f"Cannot read the sweep file {path!r}: {error.strerror}.") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"The sweep file {path!r} is not valid TOML: {error}.") from None
    unknown = sorted(set(values) - SPEC_KEYS - RUN_KEYS)
    if unknown:
        raise UsageError(f"Unknown key {unknown[0]!r} in {path!r}; valid keys: "
                         f"{', '.join(sorted(SPEC_KEYS | RUN_KEYS))}.")
    if isinstance(values.get("hparams"), dict):
        values["hparams"] = json.dumps(values["hparams"], sort_keys=True)
    for key, value in values.items():
        expected = KEY_TYPES.get(key)
        if expected and not (isinstance(value, expected) and not (expected is int and isinstance(value, bool))):
            raise UsageError(f"The key {key!r} in {path!r} must be {KEY_TYPE_NAMES[expected]}. Got {value!r} instead.")
    return values


def resolve_settings(args) -> dict[str, Any]:
    """Defaults < sweep file < command-line flags."""
    settings: dict[str, Any] = {"launcher": "multiprocess", "retries": 0, "skip_confirmation": False}
    if args.sweep_file:
        settings.update(load_sweep_file(args.sweep_file))
    elif not (args.datasets or args.algorithms):  # the bare commands act on the default sweep
        settings.update(DEFAULT_SWEEP)
    flags = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "sweep_file")}
    settings.update(flags)
    for required in ("datasets", "algorithms", "output_dir"):
        if not settings.get(required):
            raise UsageError(f"--{required} is required (or give a sweep file that sets it).")
    if settings.get("retries", 0) < 0:
        raise UsageError(f"--retries must be 0 or more. Got {settings['retries']} instead.")
    if settings.get("workers") is not None and settings["workers"] < 1:
        raise UsageError(f"--workers must be at least 1. Got {settings['workers']} instead.")
    return settings


def spec_from(settings: dict[str, Any]) -> SweepSpec:
    spec_values = {k: v for k, v in settings.items() if k in SPEC_KEYS and k != "train_args"}
    return SweepSpec(**spec_values, extra=dict(settings.get("train_args", {})))


def print_status(jobs, states: dict[str, str]) -> None:
    counts = collections.Counter((j.train_args["dataset"], j.train_args["algorithm"], states[j.job_id]) for j in jobs)
    groups = sorted({(j.train_args["dataset"], j.train_args["algorithm"]) for j in jobs})
    width = max(len(f"{d} {a}") for d, a in groups) + 2
    print(f"{'dataset algorithm':<{width}}" + "".join(f"{s:>14}" for s in STATES))
    for dataset, algorithm in groups:
        print(f"{dataset + ' ' + algorithm:<{width}}" + "".join(f"{counts[(dataset, algorithm, s)]:>14}" for s in STATES))
    totals = collections.Counter(states.values())
    print(f"{len(jobs)} jobs: " + ", ".join(f"{totals[s]} {s.lower()}" for s in STATES))
    for job in jobs:
        if states[job.job_id] == FAILED:
            failure = failure_of(job) or {}
            last = (failure.get("error") or "?").strip().splitlines()[-1:] or ["?"]
            print(f"  Failed: {job.describe()} ({job.output_dir}): {last[0]}")


def confirm(question: str, skip: bool) -> bool:
    if skip or not sys.stdin or not sys.stdin.isatty():
        return True
    return input(f"{question} (y/n) ").strip().lower().startswith("y")


def show_leaderboard(output_dir: str) -> None:
    """The sweep's leaderboard (training-domain validation), and the command for all of it."""
    from rgd_bench.report.build import make_report
    from rgd_bench.report.formats import renderer
    from rgd_bench.report.selection import TrainingDomainValidation

    report = make_report([output_dir], [TrainingDomainValidation])
    if report.sweep.runs:
        print()
        print(renderer("text")(report), end="")
    quoted = shlex.quote(output_dir)
    print(f"\nRun directories (DomainBed's format) are in {output_dir}. Every selection method and format "
          f"(markdown, latex, csv, json, html): python -m rgd_bench.report {quoted} [--format FORMAT] "
          f"[--out_dir DIR]")


def launch(jobs, states, settings) -> int:
    from rgd_bench.sweep.progress import SweepProgress

    to_run = [j for j in jobs if states[j.job_id] in (NOT_LAUNCHED, INCOMPLETE, FAILED)]
    skipped = sum(states[j.job_id] == DONE for j in jobs)
    busy = sum(states[j.job_id] == RUNNING for j in jobs)
    print(f"{len(jobs)} jobs: {skipped} done (skipped), {busy} running elsewhere (skipped), "
          f"{len(to_run)} to run with the {settings['launcher']} launcher.")
    if not to_run:
        show_leaderboard(settings["output_dir"])
        return 0
    if not confirm(f"Launch {len(to_run)} jobs?", settings["skip_confirmation"]):
        return 0
    launcher = make_launcher(settings)
    progress = SweepProgress(len(to_run))
    failures = []

    def on_finish(job, outcome):
        progress.job_finished(outcome.status)
        if outcome.status == "failed":
            failures.append(job)

    try:
        launcher.run(to_run, settings["retries"], lambda job: progress.job_started(), on_finish)
    finally:
        progress.close()
    print(f"Finished: {progress.line()}")
    show_leaderboard(settings["output_dir"])
    if failures:
        print(f"{len(failures)} jobs failed; `{PROG} status` shows why. Relaunch to retry them.", file=sys.stderr)
        return 1
    return 0


def delete_incomplete(jobs, states, settings) -> int:
    doomed = [j for j in jobs if states[j.job_id] in (INCOMPLETE, FAILED)]
    print(f"{len(doomed)} incomplete or failed run directories to delete "
          f"({sum(states[j.job_id] == RUNNING for j in jobs)} running ones are kept).")
    if doomed and confirm(f"Delete {len(doomed)} run directories?", settings["skip_confirmation"]):
        for job in doomed:
            shutil.rmtree(job.output_dir)
        print(f"Deleted {len(doomed)}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = resolve_settings(args)
    jobs = plan_jobs(spec_from(settings))
    states = {job.job_id: job_state(job) for job in jobs}
    if args.command == "list":
        for job in jobs:
            print(f"{states[job.job_id]:<13} {job.output_dir}  {job.describe()}")
        return 0
    if args.command == "status":
        print_status(jobs, states)
        return 0
    if args.command == "delete_incomplete":
        return delete_incomplete(jobs, states, settings)
    launcher_class(settings["launcher"])  # an unknown launcher fails before anything is written
    check_writable(settings["output_dir"])
    os.makedirs(settings["output_dir"], exist_ok=True)
    return launch(jobs, states, settings)


def entry_point() -> None:
    run_cli(lambda: main(sys.argv[1:]), prog=PROG)
