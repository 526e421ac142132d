"""Load run directories (rgd_bench's or DomainBed's) through the record schema, and account
for every line.

Each ``results.jsonl`` is parsed and validated in one pass by msgspec (``schema.py``): a
clean file, the usual case, is decoded whole in C.  A file with any flaw is read line by
line and every line that is not a valid record of the run is rejected and counted by kind
(malformed JSON, not a record, bad value, foreign args, duplicate step) with up to three
examples (file:line).  A line belongs to the run when its ``args`` are the first valid
line's, locations aside (a run that was moved and resumed writes its new ``output_dir``).
A step recorded twice counts once (the first).  Large sweeps are parsed by several forked
processes.

Nothing is raised and nothing is dropped silently: rejected lines, runs left with no valid
record, runs without ``done`` (left out unless asked for), diverged runs (kept: a diverged
run is a real outcome of its hyperparameters), duplicated runs (kept once) and files that
cannot be read (not a regular file, too large, no permission) are all counted in ``notes()``.
"""
from __future__ import annotations

import gc
import os
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from rgd_bench._files import UnreadableFile, read_regular
from rgd_bench.report.parse import parse_results
from rgd_bench.report.schema import KINDS
from rgd_bench.rundir import DONE_NAME, RESULTS_NAME, identity_key, is_done

MAX_RESULTS_BYTES = 256 * 2**20  # a real results.jsonl is kilobytes; this bounds what one file may cost
PARALLEL_MIN_RUNS = 500  # below this, starting processes costs more than it saves


@dataclass
class Run:
    """One run directory: its arguments and, per valid record in file order, its metrics."""

    directory: str
    args: dict[str, Any]
    hparams: dict[str, Any]
    columns: dict[str, array]  # float64 columns: "step", "env{i}_in_acc", "env{i}_out_acc" (or WILDS's)
    done: bool
    diverged: bool
    val_metric: str | None = None  # WILDS runs: the dataset's official validation metric
    val_metric_decreasing: bool = False
    subpopulation: bool = False   # trained under the subpopulation protocol

    # Read from args once (selection asks for them hundreds of thousands of times).
    dataset: str = field(init=False)
    algorithm: str = field(init=False)
    test_envs: list[int] = field(init=False)
    trial_seed: int = field(init=False)
    hparams_seed: int = field(init=False)
    n_envs: int = field(init=False)  # env{i}_out_acc keys counted from 0, as DomainBed does

    def __post_init__(self) -> None:
        args = self.args
        self.dataset, self.algorithm = args["dataset"], args["algorithm"]
        self.test_envs = list(args.get("test_envs") or [])
        self.trial_seed, self.hparams_seed = args["trial_seed"], args["hparams_seed"]
        n = 0
        while f"env{n}_out_acc" in self.columns:
            n += 1
        self.n_envs = n

    @property
    def steps(self) -> Sequence[float]:
        return self.columns["step"]

    @property
    def n_records(self) -> int:
        return len(self.columns["step"])

    def identity(self) -> bytes:
        """The run's arguments without where it was written: equal for duplicate runs."""
        return identity_key(self.args)


@dataclass
class Problem:
    """One kind of trouble found while loading: how often, and the first few places."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    shown: int = 3

    def add(self, where: str, n: int = 1) -> None:
        self.count += n
        if len(self.examples) < self.shown:
            self.examples.append(where)

    def merge(self, other: "Problem") -> None:
        self.count += other.count
        self.examples = (self.examples + other.examples)[:self.shown]

    def listing(self) -> str:
        more = f", ... ({self.count - len(self.examples)} more)" if self.count > len(self.examples) else ""
        return ", ".join(self.examples) + more


def _rejections() -> dict[str, Problem]:
    return {kind: Problem() for kind in KINDS}


@dataclass
class LoadedSweep:
    """Every usable run, and an account of every line and run left out or merged."""

    runs: list[Run]
    n_run_dirs: int = 0
    n_lines: int = 0      # lines read from the results files of the runs parsed
    n_records: int = 0    # valid records of the runs used
    rejected: dict[str, Problem] = field(default_factory=_rejections)
    no_valid_record: Problem = field(default_factory=lambda: Problem(shown=20))
    unfinished: Problem = field(default_factory=Problem)
    unfinished_included: bool = False
    diverged: Problem = field(default_factory=Problem)
    duplicates: Problem = field(default_factory=Problem)
    unreadable: Problem = field(default_factory=Problem)

    @property
    def n_rejected(self) -> int:
        return sum(problem.count for problem in self.rejected.values())

    def reject(self, kind: str, where: str) -> None:
        self.rejected[kind].add(where)

    def merge_counts(self, other: "LoadedSweep") -> None:
        """Add ``other``'s counts of directories, lines and problems (not its runs)."""
        self.n_run_dirs += other.n_run_dirs
        self.n_lines += other.n_lines
        for kind, problem in other.rejected.items():
            self.rejected[kind].merge(problem)
        for name in ("no_valid_record", "unfinished", "unreadable"):
            getattr(self, name).merge(getattr(other, name))

    def notes(self) -> list[str]:
        """One line per kind of problem found (none when all is well)."""
        lines = []
        if self.n_rejected:
            kinds = "; ".join(f"{p.count} {kind} ({p.listing()})" for kind, p in self.rejected.items() if p.count)
            lines.append(f"{self.n_rejected} of {self.n_lines} line(s) in {RESULTS_NAME} files rejected: {kinds}")

        def say(problem: Problem, what: str) -> None:
            if problem.count:
                lines.append(f"{problem.count} {what}: {problem.listing()}")

        say(self.no_valid_record, "run(s) with no valid record, left out")
        say(self.unfinished, f"run(s) without a '{DONE_NAME}' file (unfinished or killed) " + (
            "included as they are" if self.unfinished_included
            else "left out; pass --include_unfinished to use their records"))
        say(self.diverged, "run(s) diverged (non-finite loss); kept, their checkpoints take part in model selection")
        say(self.duplicates, "duplicate run(s) with identical arguments counted once")
        say(self.unreadable, f"{RESULTS_NAME} file(s) could not be read")
        return lines


def find_run_dirs(path: str) -> list[str]:
    """``path`` itself when it is a run directory, else its subdirectories, in the order the
    file system lists them (as DomainBed's ``os.listdir``, so that DomainBed's row order and
    sums come out the same)."""
    if os.path.lexists(os.path.join(path, RESULTS_NAME)):
        return [path]
    with os.scandir(path) as entries:
        return [e.path for e in entries if e.is_dir()]


def load_sweeps(paths: Iterable[str], include_unfinished: bool = False, workers: int = 1,
                on_found: Callable[[int], None] | None = None) -> LoadedSweep:
    """Load the run directories under ``paths`` (sweep directories or run directories).

    ``workers`` > 1 parses in that many forked processes when there are many runs;
    ``on_found`` hears how many directories there are before they are read."""
    run_dirs = [run_dir for path in paths for run_dir in find_run_dirs(path)]
    if on_found is not None:
        on_found(len(run_dirs))
    sweep = LoadedSweep(runs=[], unfinished_included=include_unfinished)
    by_identity: dict[bytes, int] = {}
    for run in _load_runs(run_dirs, include_unfinished, sweep, workers):
        key = run.identity()
        if key in by_identity:
            sweep.duplicates.add(run.directory)
            kept = sweep.runs[by_identity[key]]
            if (run.done, run.n_records) > (kept.done, kept.n_records):
                sweep.runs[by_identity[key]] = run
            continue
        by_identity[key] = len(sweep.runs)
        sweep.runs.append(run)
    for run in sweep.runs:
        sweep.n_records += run.n_records
        if run.diverged:
            sweep.diverged.add(run.directory)
    return sweep


def _load_runs(run_dirs: list[str], include_unfinished: bool, sweep: LoadedSweep, workers: int) -> list[Run]:
    """The runs of ``run_dirs`` in order; what was left out is counted in ``sweep``.

    With ``workers`` > 1, forked processes parse all chunks but the first, which this process
    parses meanwhile; each sends its runs back packed (``_pack``): unpickling thousands of
    small arrays would cost more than parsing them."""
    if workers > 1 and len(run_dirs) >= PARALLEL_MIN_RUNS and hasattr(os, "fork"):
        import concurrent.futures  # here: small sweeps (and the tests) do without their import time
        import multiprocessing

        size = -(-len(run_dirs) // workers)
        chunks = [run_dirs[i:i + size] for i in range(0, len(run_dirs), size)]
        context = multiprocessing.get_context("fork")  # no re-import: the children start at once
        with concurrent.futures.ProcessPoolExecutor(len(chunks) - 1, mp_context=context) as pool:
            packed = [pool.submit(_load_packed, chunk, include_unfinished) for chunk in chunks[1:]]
            parts = [_load_chunk(chunks[0], include_unfinished)]
            parts += [_unpack(*future.result()) for future in packed]
    else:
        parts = [_load_chunk(run_dirs, include_unfinished)]
    runs = []
    for chunk_runs, chunk_sweep in parts:
        runs += chunk_runs
        sweep.merge_counts(chunk_sweep)
    return runs


def _load_chunk(run_dirs: list[str], include_unfinished: bool) -> tuple[list[Run], LoadedSweep]:
    chunk = LoadedSweep(runs=[])
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of young objects, no cycles among them
    try:
        runs = [run for run in (_load_run(run_dir, include_unfinished, chunk) for run_dir in run_dirs) if run]
    finally:
        if enabled:
            gc.enable()
    return runs, chunk


def _load_packed(run_dirs: list[str], include_unfinished: bool) -> tuple[list[tuple], array, LoadedSweep]:
    runs, chunk = _load_chunk(run_dirs, include_unfinished)
    return *_pack(runs), chunk


def _pack(runs: list[Run]) -> tuple[list[tuple], array]:
    """Every run's columns end to end in one array, and what else makes each run."""
    values, metas = array("d"), []
    for run in runs:
        for column in run.columns.values():
            values.extend(column)
        metas.append((run.directory, run.args, run.hparams, tuple(run.columns), run.n_records, run.done,
                      run.diverged, run.val_metric, run.val_metric_decreasing, run.subpopulation))
    return metas, values


def _unpack(metas: list[tuple], values: array, chunk: LoadedSweep) -> tuple[list[Run], LoadedSweep]:
    runs, at = [], 0
    for directory, args, hparams, keys, n, *rest in metas:
        columns = {}
        for key in keys:
            columns[key], at = values[at:at + n], at + n
        runs.append(Run(directory, args, hparams, columns, *rest))
    return runs, chunk


def _load_run(run_dir: str, include_unfinished: bool, sweep: LoadedSweep) -> Run | None:
    results_path = os.path.join(run_dir, RESULTS_NAME)
    if not os.path.lexists(results_path):
        return None  # not a run directory
    sweep.n_run_dirs += 1
    done = is_done(run_dir)
    if not done:
        sweep.unfinished.add(run_dir)
        if not include_unfinished:
            return None
    try:
        data = read_regular(results_path, MAX_RESULTS_BYTES)
    except (UnreadableFile, OSError) as error:
        sweep.unreadable.add(f"{results_path} ({error})")
        return None
    parsed = parse_results(data, results_path, sweep)
    if parsed is None:
        sweep.no_valid_record.add(run_dir)
        return None
    first, schema, columns, diverged = parsed
    return Run(run_dir, first["args"], first.get("hparams") or {}, columns, done, diverged, schema.val_metric,
               bool(first.get("val_metric_decreasing", False)), schema.protocol is not None)


