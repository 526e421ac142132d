"""``python -m rgd_bench.report [SWEEP_DIR ...]``: leaderboards from sweep directories.

Reads run directories written by rgd_bench or by DomainBed, selects models with DomainBed's
methods and prints or writes the tables.  Imports no torch.
"""
from __future__ import annotations

import os
import sys
import time

from rgd_bench._cli import ArgumentParser, run_cli, term_lines
from rgd_bench.errors import UsageError
from rgd_bench.plugins import resolve_plugins
from rgd_bench.rundir import atomic_file, writing
from rgd_bench.report import nearby
from rgd_bench.report.build import Report, make_report
from rgd_bench.report.formats import FORMATS, renderer
from rgd_bench.report.selection import SELECTION_METHODS
from rgd_bench.report.subpopulation import SELECTION_KEYS as SUBPOPULATION_SELECTIONS
from rgd_bench.report.wilds import KEY as WILDS_KEY, NAME as WILDS_NAME

PROG = "python -m rgd_bench.report"
# Where the bare ``python -m rgd_bench.sweep launch`` writes (its DEFAULT_SWEEP's output_dir).
DEFAULT_INPUT = os.path.join("sweep_output", "default")
LOAD_WORKERS = min(4, os.cpu_count() or 1)  # processes parsing results.jsonl files on big sweeps
MANY_RUNS = 10_000  # about 2 s of reading on a 2-core machine
SELECTION_ALIASES = {"iid": "training_domain", "training_domain_validation": "training_domain",
                     "loo": "leave_one_out", "lodo": "leave_one_out", "test_domain": "oracle"}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description="Out-of-domain leaderboards from sweep directories.",
                            usage="%(prog)s [SWEEP_DIR ...] [options]",
                            epilog=_epilog())
    parser.add_argument("sweep_dirs", nargs="*", metavar="SWEEP_DIR",
                        help=f"sweep (or run) directories, merged into one leaderboard (default: {DEFAULT_INPUT})")
    parser.add_argument("--input_dir", action="append", default=[], help="same as SWEEP_DIR (DomainBed's flag)")
    parser.add_argument("--selection", action="append", default=[], metavar="METHOD[,METHOD]",
                        help=f"model selection: {', '.join(SELECTION_METHODS)}, {WILDS_KEY} (default: all)")
    parser.add_argument("--format", default="text", help="output format (listed below)")
    parser.add_argument("--latex", action="store_true", help="same as --format latex (DomainBed's flag)")
    parser.add_argument("--output", help="write to this file (default: standard output)")
    parser.add_argument("--out_dir", help="write every format into this directory, each to its file named "
                                          "below (default: none)")
    parser.add_argument("--baseline", default="ERM",
                        help="the algorithm others are tested against (default: ERM; 'none' for no tests)")
    parser.add_argument("--include_unfinished", action="store_true",
                        help="use the records of runs that have no 'done' file")
    parser.add_argument("--plugins", nargs="+", metavar="FILE_OR_MODULE",
                        help="accepted as by train and sweep, and checked, but not imported: the report "
                             "takes algorithm and dataset names from the records (default: none)")
    return parser


def _epilog() -> str:
    """The selection methods (with their aliases) and the formats (with their --out_dir files)."""
    aliases = {key: [a for a, k in SELECTION_ALIASES.items() if k == key] for key in SELECTION_METHODS}
    methods = {key: method.name + (f" (also: {', '.join(aliases[key])})" if aliases[key] else "")
               for key, method in SELECTION_METHODS.items()}
    methods[WILDS_KEY] = f"{WILDS_NAME} (each run early-stopped on it, hparams by its mean over replicates)"
    methods.update({key: f"subpopulation protocol: {s.name}" for key, s in SUBPOPULATION_SELECTIONS.items()})
    formats = {name: filename for name, (_, _, filename) in FORMATS.items()}
    return "\n\n".join([term_lines("Selection methods (--selection)", methods),
                         term_lines("Formats (--format; the file --out_dir writes)", formats)])


def parse_selection(values: list[str]) -> tuple[list, bool, list]:
    """DomainBed's methods asked for, whether the WILDS method is, and the subpopulation
    protocol's methods asked for."""
    allowed = [*SELECTION_METHODS, WILDS_KEY, *SUBPOPULATION_SELECTIONS]
    names = [n.strip() for v in values for n in v.split(",") if n.strip()] or allowed
    methods = []
    for name in names:
        key = SELECTION_ALIASES.get(name, name)
        if key not in allowed:
            raise UsageError(f"--selection: unknown method {name!r}; choose from {', '.join(allowed)}")
        if key in SELECTION_METHODS and SELECTION_METHODS[key] not in methods:
            methods.append(SELECTION_METHODS[key])
    keys = [SELECTION_ALIASES.get(n, n) for n in names]
    subpopulation = [s for key, s in SUBPOPULATION_SELECTIONS.items() if key in keys]
    return methods, WILDS_KEY in keys, subpopulation


def check_inputs(paths: list[str]) -> None:
    for path in paths:
        if not os.path.isdir(path):
            raise UsageError(f"sweep directory {path!r} does not exist" if not os.path.exists(path)
                             else f"{path!r} is not a directory")


def check_output_paths(output: str | None, out_dir: str | None) -> None:
    """Refuse, before anything is read or written, an --output that is a directory or an
    --out_dir that is a file."""
    if output is not None and (os.path.isdir(output) or output.endswith(os.sep)):
        raise UsageError(f"--output {output!r} is a directory; give a file name, or use --out_dir to write "
                         "every format into a directory")
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--out_dir {out_dir!r} exists and is not a directory")


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (one line naming the path if it fails)."""
    with writing(path, hint=""):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_file(path, "w") as f:
            f.write(text)


def announce_long_load(n_run_dirs: int) -> None:
    """Say what is coming when reading will take more than a few seconds."""
    if n_run_dirs >= MANY_RUNS:
        print(f"{PROG}: reading {n_run_dirs} run directories with {LOAD_WORKERS} process(es) ...",
              file=sys.stderr, flush=True)


def check_protocols(report: Report, paths: list[str], selection: list[str]) -> None:
    """One line instead of an empty leaderboard when every run found was trained under the
    protocol the selection did not ask for, naming the directories nearby with the other's."""
    if report.has_tables:
        return
    runs, where = report.sweep.runs, ", ".join(map(repr, paths))
    if all(run.subpopulation for run in runs):
        raise UsageError(f"--selection {','.join(selection)}: the {len(runs)} runs in {where} were trained under "
                         f"the subpopulation protocol, whose methods are {', '.join(SUBPOPULATION_SELECTIONS)}")
    runs = [run for run in runs if not run.subpopulation]
    if any(run.val_metric is None for run in runs):  # DomainBed's runs, and only WILDS's method asked for
        missing = nearby.WILDS
        message = (f"--selection {','.join(selection)}: no run in {where} was trained under WILDS's protocol "
                   f"(its {len(runs)} runs are DomainBed's)")
    else:
        missing = nearby.DOMAINBED
        message = (f"--selection {','.join(selection)}: the {len(runs)} runs in {where} were trained under WILDS's "
                   f"protocol, which DomainBed's selection methods do not read; use --selection {WILDS_KEY}")
    found = nearby.nearby_with(paths, missing)
    raise UsageError(message + (f"; {missing} runs are in: {', '.join(map(repr, found))}" if found
                                else f"; no directory under or beside it holds {missing} runs"))


def load(args) -> Report:
    paths = args.sweep_dirs + args.input_dir or [DEFAULT_INPUT]
    check_inputs(paths)
    baseline = None if args.baseline.lower() == "none" else args.baseline
    started = time.perf_counter()
    methods, wilds, subpopulation = parse_selection(args.selection)
    report = make_report(paths, methods, baseline, args.include_unfinished, wilds, workers=LOAD_WORKERS,
                         on_found=announce_long_load, subpopulation=subpopulation)
    if not report.sweep.runs:
        found = report.sweep.n_run_dirs
        raise UsageError(f"no usable run in {', '.join(map(repr, paths))}: " + (
            "no run directory (a folder with results.jsonl) found" if not found
            else f"{found} run director{'y' if found == 1 else 'ies'} found, none usable: "
                 + "; ".join(report.sweep.notes())))
    check_protocols(report, paths, args.selection)
    algorithms = report.algorithms
    if baseline is not None and baseline not in algorithms and args.baseline != "ERM":
        raise UsageError(f"--baseline: {baseline!r} has no runs; choose from {', '.join(algorithms)} or none")
    elapsed = time.perf_counter() - started
    if elapsed > 2:
        print(f"{PROG}: {report.sweep.n_records} records from {len(report.sweep.runs)} runs in {elapsed:.1f} s",
              file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    resolve_plugins(args.plugins)  # importing them would import torch, which the report never needs
    fmt = "latex" if args.latex else args.format
    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if args.out_dir and args.output:
        raise UsageError("--output and --out_dir exclude each other: --output writes one format, "
                         "--out_dir all of them")
    check_output_paths(args.output, args.out_dir)
    report = load(args)
    if args.out_dir:
        texts = {FORMATS[name][2]: renderer(name)(report) for name in FORMATS}  # all rendered before any write
        for filename, text in texts.items():
            write_atomically(os.path.join(args.out_dir, filename), text)
        print(f"wrote {', '.join(texts)} to {args.out_dir}")
        return 0
    text = renderer(fmt)(report)
    if args.output:
        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def run() -> None:
    run_cli(main, PROG)
