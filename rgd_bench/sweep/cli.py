"""``python -m rgd_bench.sweep {launch,status,list,delete_incomplete} [SWEEP.toml] [flags]``.

A sweep is DomainBed's flags, or one TOML file holding the same keys; flags given on the
command line override the file.  With neither, ``launch`` runs the default sweep on the
embedded data (``DEFAULT_SWEEP``, mirrored by ``sweeps/default.toml``), and ``status``,
``list`` and ``delete_incomplete`` act on it.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import shutil
import sys
from typing import Any, Sequence

from rgd_bench._cli import ArgumentParser, run_cli
from rgd_bench._files import UnreadableFile, read_regular
from rgd_bench.errors import UsageError
from rgd_bench.sweep import help as sweep_help
from rgd_bench.sweep.jobs import (DONE, FAILED, INCOMPLETE, NOT_LAUNCHED, QUEUED, RUNNING, STATES,
                                  adopt_legacy_dirs, failure_of, job_states)
from rgd_bench.sweep.keys import Option
from rgd_bench.sweep.launchers import LAUNCHERS, launcher_class, launcher_options, make_launcher
from rgd_bench.sweep.slurm_tickets import live_tickets
from rgd_bench.sweep.plan import SPEC_FIELDS, SPEC_OPTIONS, SweepSpec, plan_jobs
from rgd_bench.rundir import check_writable
from rgd_bench.values import NON_NEGATIVE, Spec

PROG = "python -m rgd_bench.sweep"
COMMANDS = tuple(sweep_help.COMMANDS)  # launch, status, list, delete_incomplete
DEFAULT_SWEEP: dict[str, Any] = {
    "datasets": ["SpuriousTabular"],
    "algorithms": ["ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"],
    "single_test_envs": False,
    "n_hparams_from": 0,
    "n_hparams": 3,
    "n_trials": 2,
    "steps": 301,
    "output_dir": "sweep_output/default",
    "launcher": "multiprocess",
}
def run_options() -> tuple[Option, ...]:
    """The sweep's own keys, of how it runs (each launcher declares its own: ``Launcher.OPTIONS``)."""
    return (
        Option("launcher", Spec(str, choices=tuple(LAUNCHERS)), "how jobs run (listed below)", default="multiprocess"),
        Option("retries", Spec(int, NON_NEGATIVE), "extra attempts for a job that fails", default=0),
        Option("skip_confirmation", Spec(bool), "launch and delete_incomplete ask nothing first (they ask on a "
                                                "terminal, except for the default sweep's launch)", default=False),
    )


def sweep_options() -> dict[str, Option]:
    """Every key of a sweep, as a flag and in a sweep file, each declared once: the plan's
    (``SweepSpec``'s fields), the sweep's own (``run_options``) and the launchers' (their ``OPTIONS``)."""
    options: dict[str, Option] = {}
    for option in [*SPEC_OPTIONS.values(), *run_options(), *(o.option for o in launcher_options().values())]:
        if option.name in options:
            raise ValueError(f"The sweep key {option.name!r} is declared twice (the plan, the sweep's own keys "
                             f"and the launchers' options share one namespace).")
        options[option.name] = option
    return options


def base_settings() -> dict[str, Any]:
    """What the sweep's own keys are when neither a sweep file, nor the default sweep, nor a flag
    sets them (a launcher's options left unset take the launcher's defaults)."""
    return {option.name: option.default for option in run_options()}


MAX_SWEEP_FILE_BYTES = 2**20
PATH_FLAGS = ("--data_dir", "--output_dir")  # their values may end in .toml without being a sweep file


def _describe_command(parser, namespace) -> None:
    """--help after a command (``launch --help``) describes that command."""
    command = getattr(namespace, "command", None)
    if command:
        parser.usage, parser.description = sweep_help.usage(command), sweep_help.COMMANDS[command] + "."
    parser.epilog = sweep_help.epilog(namespace, DEFAULT_SWEEP)


def _add_option(group, option: Option, default_sweep: dict[str, Any]) -> None:
    text = f"{option.help} {sweep_help.default_of(option, default_sweep)}".strip()
    spec = option.spec
    if spec.kind is bool:
        group.add_argument(f"--{option.name}", action="store_true", default=None, help=text)
    elif spec.kind is list:
        group.add_argument(f"--{option.name}", nargs="+", type=spec.item.parse, help=text)
    else:
        group.add_argument(f"--{option.name}", type=spec.parse, help=text)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, usage=sweep_help.usage(None), before_help=_describe_command,
                            description="Plan, launch and inspect sweeps of training runs. A sweep file "
                                        "(SWEEP.toml) may come anywhere; `COMMAND --help` describes a command.")
    parser.add_argument("command", choices=COMMANDS, help=argparse.SUPPRESS)
    readers = {name: shown.launchers for name, shown in launcher_options().items()}
    groups: dict[tuple[str, ...], Any] = {}  # one per launcher, or per launchers that share options
    for name, option in sweep_options().items():
        if option.spec.kind is dict:  # [train_args] is a table: sweep files only
            continue
        group = parser
        if name in readers:
            if readers[name] not in groups:
                title = f"options of the {' and '.join(readers[name])} launcher{'s' * (len(readers[name]) > 1)}"
                groups[readers[name]] = parser.add_argument_group(title)
            group = groups[readers[name]]
        _add_option(group, option, DEFAULT_SWEEP)
    return parser


def split_sweep_file(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The sweep file (a word ending in .toml, wherever it stands) and the other words."""
    files, rest = [], []
    for i, word in enumerate(argv):
        is_file = word.endswith(".toml") and not word.startswith("-") and (i == 0 or argv[i - 1] not in PATH_FLAGS)
        (files if is_file else rest).append(word)
    if len(files) > 1:
        raise UsageError(f"one sweep file at a time; got {', '.join(map(repr, files))}")
    return (files[0] if files else None), rest


def load_sweep_file(path: str) -> dict[str, Any]:
    """The keys of a TOML sweep file, each checked against its declaration."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        text = read_regular(path, MAX_SWEEP_FILE_BYTES).decode("utf-8")
        values = tomllib.loads(text)
    except (UnreadableFile, OSError) as error:
        raise UsageError(f"Cannot read the sweep file {path!r}: {error}.") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"The sweep file {path!r} is not UTF-8 text (byte {error.start}).") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"The sweep file {path!r} is not valid TOML: {error}.") from None
    options = sweep_options()
    unknown = sorted(set(values) - set(options))
    if unknown:
        raise UsageError(f"Unknown key {unknown[0]!r} in {path!r}; valid keys: {', '.join(sorted(options))}.")
    if isinstance(values.get("hparams"), dict):
        values["hparams"] = json.dumps(values["hparams"], sort_keys=True)
    for key, value in values.items():
        message = options[key].spec.message(f"The key {key!r} in {path!r}", value)
        if message:
            raise UsageError(message)
    return values


def resolve_settings(args, sweep_file: str | None) -> dict[str, Any]:
    """Defaults < sweep file < command-line flags."""
    settings: dict[str, Any] = base_settings()
    if sweep_file:
        settings.update(load_sweep_file(sweep_file))
    elif not (args.datasets or args.algorithms):  # the bare commands act on the default sweep
        settings.update(DEFAULT_SWEEP)
        # The main job is what a bare `launch` asks for: no question first.  A named
        # sweep is confirmed on a terminal, since it may be thousands of jobs.
        settings["skip_confirmation"] = True
    flags = {k: v for k, v in vars(args).items() if v is not None and k != "command"}
    settings.update(flags)
    for required in (name for name, option in SPEC_OPTIONS.items() if option.required):
        if not settings.get(required):
            raise UsageError(f"--{required} is required (or give a sweep file that sets it).")
    return settings


def spec_from(settings: dict[str, Any]) -> SweepSpec:
    return SweepSpec(**{SPEC_FIELDS[key]: value for key, value in settings.items() if key in SPEC_FIELDS})


def status_table(counts: dict[tuple[str, str], dict[str, int]]) -> list[str]:
    """One line per (dataset, algorithm) with its count of jobs in each state, under a header:
    names left-aligned, each count ending where its state's name ends."""
    header = ["dataset", "algorithm", *STATES]
    rows = [[dataset, algorithm, *(str(by_state.get(s, 0)) for s in STATES)]
            for (dataset, algorithm), by_state in sorted(counts.items())]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                      for i, (cell, width) in enumerate(zip(row, widths))).rstrip()
            for row in [header, *rows]]


def print_status(jobs, states: dict[str, str]) -> None:
    counts: dict[tuple[str, str], dict[str, int]] = collections.defaultdict(collections.Counter)
    for job in jobs:
        counts[(job.train_args["dataset"], job.train_args["algorithm"])][states[job.job_id]] += 1
    print("\n".join(status_table(counts)))
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
    # Jobs a launch before this one left on Slurm (Queued ones, and Running ones with a live
    # ticket): the submitit launcher waits on them (never submitting one twice); the others
    # leave them to Slurm.
    running_on_slurm = live_tickets([j for j in jobs if states[j.job_id] == RUNNING])
    on_slurm = [j for j in jobs if states[j.job_id] == QUEUED or j.job_id in running_on_slurm]
    waits = launcher_class(settings["launcher"]).WAITS_ON_SLURM_JOBS
    busy = sum(states[j.job_id] == RUNNING and j.job_id not in running_on_slurm for j in jobs)
    slurm = f"{len(on_slurm)} queued or running on Slurm ({'waited on' if waits else 'skipped'}), " if on_slurm else ""
    print(f"{len(jobs)} jobs: {skipped} done (skipped), {busy} running elsewhere (skipped), {slurm}"
          f"{len(to_run)} to run with the {settings['launcher']} launcher.")
    if waits:
        to_run += on_slurm
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
          f"({sum(states[j.job_id] == RUNNING for j in jobs)} running and "
          f"{sum(states[j.job_id] == QUEUED for j in jobs)} queued ones are kept).")
    if doomed and confirm(f"Delete {len(doomed)} run directories?", settings["skip_confirmation"]):
        for job in doomed:
            shutil.rmtree(job.existing_dir())
        print(f"Deleted {len(doomed)}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    sweep_file, argv = split_sweep_file(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    settings = resolve_settings(args, sweep_file)
    jobs = plan_jobs(spec_from(settings))
    if args.command == "launch":  # the launcher's name was checked with the other keys
        check_writable(settings["output_dir"])
        adopted = adopt_legacy_dirs(jobs)
        if adopted:
            print(f"Adopted {adopted} run directories that rgd_bench 0.1 named (renamed to their job ids).")
    states = job_states(jobs)
    if args.command == "list":
        for job in jobs:
            print(f"{states[job.job_id]:<13} {job.output_dir}  {job.describe()}")
        return 0
    if args.command == "status":
        print_status(jobs, states)
        return 0
    if args.command == "delete_incomplete":
        return delete_incomplete(jobs, states, settings)
    os.makedirs(settings["output_dir"], exist_ok=True)
    return launch(jobs, states, settings)


def entry_point() -> None:
    run_cli(lambda: main(sys.argv[1:]), prog=PROG)
