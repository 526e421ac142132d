"""``python -m rgd_bench.paper_checks``: run the sweeps behind each claim (resuming what is
done), read their validated records and write the verdicts to one Markdown table."""
from __future__ import annotations

import os
import shlex
import sys
import time
from importlib import resources
from typing import Sequence

from rgd_bench._cli import ArgumentParser
from rgd_bench.errors import UsageError
from rgd_bench.paper_checks.claims import CLAIMS, Claim
from rgd_bench.paper_checks.measure import judge
from rgd_bench.paper_checks.table import render

PROG = "python -m rgd_bench.paper_checks"
FULL_REPORT = os.path.join("reports", "paper_checks.md")
# --quick: CI-sized smoke runs of the same sweeps; too few seeds and steps for a verdict to mean much.
QUICK_FLAGS = {
    "hws_mnist": ["--n_trials", "2", "--steps", "401", "--checkpoint_freq", "200"],
    "rgd_domainbed": ["--n_trials", "2", "--n_hparams", "1", "--steps", "101", "--checkpoint_freq", "50"],
    "tabular": ["--n_trials", "2", "--n_hparams", "1", "--steps", "201", "--checkpoint_freq", "100"],
}
GROUPS = {"hws": "hws_mnist", "rgd_domainbed": "rgd_domainbed", "tabular": "tabular"}


def sweep_file(name: str) -> str:
    return str(resources.files("rgd_bench.paper_checks") / "sweeps" / f"{name}.toml")


def check_of(sweep: str) -> str:
    return next(check for check in GROUPS if sweep.startswith(check))


def group_of(sweep: str) -> str:
    """The output directory a sweep file shares with the others of its check."""
    return GROUPS[check_of(sweep)]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=(
        "Check each headline claim of the RGD, SGD-HWS and ALSO papers with the closest experiment that "
        "runs here; print and write one table (claim, paper, setting, result with a 95% interval, verdict)."))
    parser.add_argument("--quick", action="store_true",
                        help="CI-sized smoke runs (about 4 minutes on 2 cores): 2 seeds, few steps; "
                             "not enough for verdicts to mean much")
    parser.add_argument("--checks", nargs="+", choices=sorted(GROUPS), help="only these checks (default: all)")
    parser.add_argument("--output_dir", help="where the sweeps write (default: sweep_output/paper_checks, "
                                             "or sweep_output/paper_checks_quick with --quick)")
    parser.add_argument("--report", help=f"the Markdown file to write (default: {FULL_REPORT}, or "
                                         "OUTPUT_DIR/paper_checks.md with --quick)")
    parser.add_argument("--no_launch", action="store_true", help="only read the records already there")
    return parser


def _claims(checks: Sequence[str] | None) -> list[Claim]:
    wanted = set(checks or GROUPS)
    return [c for c in CLAIMS if check_of(c.sweeps[0]) in wanted]


def launch(sweep: str, output_dir: str, quick: bool) -> int:
    from rgd_bench.sweep.cli import main as sweep_main

    group = group_of(sweep)
    flags = ["--output_dir", os.path.join(output_dir, group), *(QUICK_FLAGS[group] if quick else [])]
    print(f"\n== {sweep}: python -m rgd_bench.sweep launch {shlex.join([sweep_file(sweep), *flags])}", flush=True)
    return sweep_main(["launch", sweep_file(sweep), *flags])


def main(argv: Sequence[str] | None = None) -> int:
    from rgd_bench.report.cli import check_output_paths, write_atomically
    from rgd_bench.report.records import load_sweeps
    from rgd_bench.rundir import check_writable

    args = build_parser().parse_args(argv)
    output_dir = args.output_dir or os.path.join("sweep_output", "paper_checks_quick" if args.quick else "paper_checks")
    report = args.report or (os.path.join(output_dir, "paper_checks.md") if args.quick else FULL_REPORT)
    # Checked before an hour of sweeps, not after.
    check_output_paths(report, None)
    check_writable(os.path.dirname(os.path.abspath(report)), "--report")
    if not args.no_launch:
        check_writable(output_dir)
    claims = _claims(args.checks)
    sweeps = list(dict.fromkeys(s for c in claims for s in c.sweeps))
    started = time.monotonic()
    failed = 0
    if not args.no_launch:
        for sweep in sweeps:
            failed += launch(sweep, output_dir, args.quick) != 0
    minutes = (time.monotonic() - started) / 60
    outcomes, notes = [], []
    if args.quick:
        notes.append("Quick mode: 2 seeds, 1 hyperparameter draw, 100 to 400 steps; "
                     "a smoke run of the machinery, not evidence for or against a claim. The setting "
                     "column describes the full run.")
    for group in dict.fromkeys(map(group_of, sweeps)):
        directory = os.path.join(output_dir, group)
        if not os.path.isdir(directory):
            raise UsageError(f"No runs in {directory}: run without --no_launch first.")
        loaded = load_sweeps([directory])
        summary = f"{group}: {len(loaded.runs)} runs, {loaded.n_records} valid records"
        notes.append("; ".join([summary, *loaded.notes()]))
        outcomes += [judge(c, loaded.runs) for c in claims if group_of(c.sweeps[0]) == group]
    mode = "quick (smoke: 2 seeds, few steps)" if args.quick else "full"
    command = " ".join([PROG, *(["--quick"] if args.quick else []), *(["--no_launch"] if args.no_launch else [])])
    ran = ("read from the records already there" if args.no_launch else
           f"the sweeps ran {minutes:.1f} minutes in this invocation (done runs are reused)")
    header = ["# Paper checks", "", f"`{command}`: mode {mode}; {ran}.",
              "Results are in points of accuracy; a claim is reproduced when the 95% interval of the paired "
              "difference over seeds lies above 0."]
    text = render(outcomes, header, notes)
    write_atomically(report, text)
    print("\n" + text, end="")
    print(f"\nWritten to {report}.")
    if failed:
        print(f"{failed} sweep(s) had failed jobs; relaunch to retry them.", file=sys.stderr)
    return 1 if failed else 0
