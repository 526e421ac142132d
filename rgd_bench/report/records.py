"""Load run directories (rgd_bench's or DomainBed's) fast, and account for every problem.

A run directory holds ``results.jsonl`` (one JSON object per checkpoint, written with
``sort_keys=True``) and ``done`` once finished.  Parsing 100,000 full records with ``json``
takes seconds, so the loader parses a run's first record fully (for ``args`` and
``hparams``) and pulls only the numbers the report needs (``step`` and the per-environment
accuracies, or a WILDS run's per-split metrics) out of the whole file with regular
expressions, checking that every line carries the same keys as the first.  A file that
breaks the pattern is read line by line with ``json``, malformed lines counted.  Large
sweeps are parsed by several forked processes.

Problems are counted, never raised and never silently dropped: malformed lines, runs
without ``done`` (left out unless asked for), diverged runs (kept: a diverged run is a
real outcome of its hyperparameters), duplicated runs (kept once), unreadable files.
"""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import re
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

RESULTS_NAME = "results.jsonl"
DONE_NAME = "done"
# Arguments that say where a run was written or read its data, not what it computed:
# two copies of one run in different sweep directories are the same run.
LOCATION_ARGS = ("output_dir", "data_dir")
REQUIRED_ARGS = ("dataset", "algorithm", "trial_seed", "hparams_seed")

# DomainBed's per-environment accuracies, and WILDS's per-split metrics ("val_acc_wg", ...).
_METRIC_KEY = re.compile(r"step|env\d+_(?:in|out)_acc|(?:id_)?(?:val|test)_[^\"\\]+")
_METRIC = re.compile(r'"(' + _METRIC_KEY.pattern + r')": ?(-?\d[\d.eE+-]*|NaN|-?Infinity)(?=[,}])')
_ACC_VALUE = re.compile(r'_acc": ([^,}]*)')
_STEP_VALUE = re.compile(r'"step": ([^,}]*)')
_ACC_KEY = re.compile(r'"(env\d+_(?:in|out)_acc)": ')
_DIVERGED = '"diverged": true'


@dataclass
class Run:
    """One run directory: its arguments and, per checkpoint in file order, its metrics."""

    directory: str
    args: dict[str, Any]
    hparams: dict[str, Any]
    columns: dict[str, array]  # float64 columns: "step", "env{i}_in_acc", "env{i}_out_acc" (or WILDS's)
    done: bool
    diverged: bool
    val_metric: str | None = None  # WILDS runs: the dataset's official validation metric
    val_metric_decreasing: bool = False

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

    def identity(self) -> str:
        """The run's arguments without where it was written: equal for duplicate runs."""
        args = {k: v for k, v in self.args.items() if k not in LOCATION_ARGS}
        return json.dumps(args, sort_keys=True)


@dataclass
class Problem:
    """One kind of trouble found while loading, with where it happened."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, where: str, n: int = 1) -> None:
        self.count += n
        if len(self.examples) < 3:
            self.examples.append(where)

    def merge(self, other: "Problem") -> None:
        self.count += other.count
        self.examples = (self.examples + other.examples)[:3]


@dataclass
class LoadedSweep:
    """Every usable run, and an account of what was left out or merged."""

    runs: list[Run]
    n_run_dirs: int = 0
    n_records: int = 0
    malformed_lines: Problem = field(default_factory=Problem)
    unfinished: Problem = field(default_factory=Problem)
    unfinished_included: bool = False
    diverged: Problem = field(default_factory=Problem)
    duplicates: Problem = field(default_factory=Problem)
    unreadable: Problem = field(default_factory=Problem)
    empty: Problem = field(default_factory=Problem)

    def notes(self) -> list[str]:
        """One line per kind of problem found (none when all is well)."""
        lines = []

        def say(problem: Problem, what: str) -> None:
            if problem.count:
                shown = ", ".join(problem.examples)
                more = ", ..." if problem.count > len(problem.examples) else ""
                lines.append(f"{what} ({shown}{more})")

        n = self.unfinished.count
        say(self.malformed_lines, f"{self.malformed_lines.count} malformed or truncated line(s) in "
            f"{RESULTS_NAME} skipped")
        say(self.unfinished, f"{n} run(s) without a '{DONE_NAME}' file (unfinished or killed) "
            + ("included as they are" if self.unfinished_included
               else "left out; pass --include_unfinished to use their records"))
        say(self.diverged, f"{self.diverged.count} run(s) diverged (non-finite loss); kept, "
            "their checkpoints take part in model selection")
        say(self.duplicates, f"{self.duplicates.count} duplicate run(s) with identical arguments "
            "counted once")
        say(self.unreadable, f"{self.unreadable.count} {RESULTS_NAME} file(s) could not be read")
        say(self.empty, f"{self.empty.count} run(s) have no usable record yet")
        return lines


def find_run_dirs(path: str) -> list[str]:
    """``path`` itself when it is a run directory, else its subdirectories, in the order the
    file system lists them (as DomainBed's ``os.listdir``, so that DomainBed's row order and
    sums come out the same)."""
    if os.path.isfile(os.path.join(path, RESULTS_NAME)):
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
    by_identity: dict[str, int] = {}
    for run in _load_runs(run_dirs, sweep, workers):
        if not run.done:
            sweep.unfinished.add(run.directory)
            if not include_unfinished:
                continue
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


PARALLEL_MIN_RUNS = 500  # below this, starting processes costs more than it saves


def _load_runs(run_dirs: list[str], sweep: LoadedSweep, workers: int) -> list[Run]:
    """The runs of ``run_dirs`` in order; problems and the count of run directories go to ``sweep``."""
    if workers > 1 and len(run_dirs) >= PARALLEL_MIN_RUNS and "fork" in multiprocessing.get_all_start_methods():
        size = -(-len(run_dirs) // workers)
        chunks = [run_dirs[i:i + size] for i in range(0, len(run_dirs), size)]
        context = multiprocessing.get_context("fork")  # no re-import: the children start at once
        with concurrent.futures.ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
            parts = list(pool.map(_load_chunk, chunks))
    else:
        parts = [_load_chunk(run_dirs)]
    runs = []
    for chunk_runs, chunk_sweep in parts:
        runs += chunk_runs
        sweep.n_run_dirs += chunk_sweep.n_run_dirs
        for name in ("malformed_lines", "unreadable", "empty"):
            getattr(sweep, name).merge(getattr(chunk_sweep, name))
    return runs


def _load_chunk(run_dirs: list[str]) -> tuple[list[Run], LoadedSweep]:
    chunk = LoadedSweep(runs=[])
    runs = []
    for run_dir in run_dirs:
        run = _load_run(run_dir, chunk)
        if run is not None:
            runs.append(run)
    return runs, chunk


def _load_run(run_dir: str, sweep: LoadedSweep) -> Run | None:
    results_path = os.path.join(run_dir, RESULTS_NAME)
    try:
        with open(results_path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None  # not a run directory
    except (OSError, UnicodeDecodeError):
        sweep.n_run_dirs += 1
        sweep.unreadable.add(results_path)
        return None
    sweep.n_run_dirs += 1
    n_lines = text.count("\n")
    first = _check_line(text[:text.index("\n")], parse=True) if _all_lines_look_whole(text, n_lines) else None
    good_text = text
    if not first:  # something is off: read line by line, counting malformed lines
        good_text, first = _good_lines(text, results_path, sweep)
    done = os.path.exists(os.path.join(run_dir, DONE_NAME))
    if not first:
        sweep.empty.add(run_dir)
        return None
    columns = _metric_columns(good_text, first, n_lines if good_text is text else good_text.count("\n"))
    if columns is None:  # lines of different shapes: parse each one whole
        columns = _columns_from_records([json.loads(line) for line in good_text.splitlines()])
    last_line = good_text[good_text.rstrip("\n").rfind("\n") + 1:]
    return Run(run_dir, first["args"], first.get("hparams") or {}, columns, done, _DIVERGED in last_line,
               first.get("val_metric"), bool(first.get("val_metric_decreasing", False)))


def _all_lines_look_whole(text: str, n_lines: int) -> bool:
    """Every line ends with '}' (counted in C, not line by line), the last one included.

    JSON strings cannot hold a raw newline, so "}\n" can only end a line.  A line cut short
    and continued by the next record breaks the count of keys per line, which
    ``_metric_columns`` checks."""
    return n_lines > 0 and text.startswith('{"') and text.endswith("}\n") and text.count("}\n") == n_lines


def _good_lines(text: str, results_path: str, sweep: LoadedSweep) -> tuple[str, dict | None]:
    """The well-formed lines (malformed ones counted) and the first record, parsed."""
    good, first = [], None
    for number, line in enumerate(text.split("\n"), 1):
        if line == "" and number > text.count("\n"):
            break  # the end of the last line
        record = _check_line(line, first is None)
        if record is False:
            sweep.malformed_lines.add(f"{results_path}:{number}")
            continue
        if first is None:
            first = record
        good.append(line + "\n")
    return "".join(good), first


def _check_line(line: str, parse: bool) -> dict | bool:
    """The parsed record when ``parse``; True for a line that looks whole; False if malformed."""
    if not parse and line.startswith('{"') and line.endswith("}"):
        return True
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not (isinstance(record, dict) and isinstance(record.get("args"), dict) and "step" in record
            and all(key in record["args"] for key in REQUIRED_ARGS)
            and ("env0_in_acc" in record or isinstance(record.get("val_metric"), str))):
        return False
    return record if parse else True


def _without_constant_objects(text: str, first_line: str) -> str:
    """``text`` with the first line's ``args`` and ``hparams`` objects, repeated verbatim on
    every line, cut out: three quarters of the bytes the metric search would scan."""
    decoder = json.JSONDecoder()
    for key in ('"args": ', '"hparams": '):
        start = first_line.find(key)
        if start < 0:
            continue
        try:
            _, end = decoder.raw_decode(first_line, start + len(key))
        except ValueError:
            continue
        text = text.replace(first_line[start:end], key + "0")
    return text


def _metric_columns(text: str, first: dict, n_lines: int) -> dict[str, array] | None:
    """Columns of the metrics, or None when the lines do not all carry the first one's keys."""
    keys = tuple(key for key in sorted(first) if _is_metric(key, first[key]))
    if all(key == "step" or key.endswith("_acc") for key in keys):
        columns = _accuracy_columns(text, keys, n_lines)
        if columns is not None:
            return columns
    found = _METRIC.findall(_without_constant_objects(text, text[:text.index("\n")]))
    k = len(keys)
    if not found or len(found) != k * n_lines:
        return None
    found_keys, found_values = zip(*found)
    if found_keys != keys * n_lines:
        return None
    values = array("d", map(float, found_values))
    return {key: values[i::k] for i, key in enumerate(keys)}


def _accuracy_columns(text: str, keys: tuple[str, ...], n_lines: int) -> dict[str, array] | None:
    """DomainBed's accuracies and steps, found by regular expressions that start with a
    literal (which ``re`` searches for fast); None if any line breaks the pattern."""
    acc_keys = [key for key in keys if key != "step"]
    values = _ACC_VALUE.findall(text)
    steps = _STEP_VALUE.findall(text)
    if len(values) != len(acc_keys) * n_lines or len(steps) != n_lines:
        return None
    # Every line has as many accuracies as the first; check that the first and last list them
    # in the first's order (sorted keys, as DomainBed and rgd_bench write them).
    first_line, last_line = text[:text.index("\n")], text[text.rstrip("\n").rfind("\n") + 1:]
    if _ACC_KEY.findall(first_line) != acc_keys or _ACC_KEY.findall(last_line) != acc_keys:
        return None
    try:
        numbers = array("d", map(float, values))
        columns = {"step": array("d", map(float, steps))}
    except ValueError:  # something else after a key: let the general parser decide
        return None
    k = len(acc_keys)
    columns.update((key, numbers[i::k]) for i, key in enumerate(acc_keys))
    return columns


def _columns_from_records(records: list[dict]) -> dict[str, array]:
    keys = sorted({key for r in records for key, value in r.items() if _is_metric(key, value)})
    return {key: array("d", [_number(r.get(key)) for r in records]) for key in keys}


def _is_metric(key: str, value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(_METRIC_KEY.fullmatch(key))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
