"""The run-directory contract, torch-free: what a run directory holds, what names a run,
and when it is done.  The engine, the sweep, the report and the synthetic sweeps all read
it from here.

A run directory holds ``results.jsonl`` (one JSON object per checkpoint, DomainBed's keys,
``sort_keys=True``), ``out.txt`` and ``err.txt``, a resumable ``checkpoint.pt`` while the run
is unfinished, ``model.pkl`` unless skipped, the sweep's ``failed.json`` after a failed
attempt, the ``lock`` of the process running it, and ``done``, written last.

A run's identity is its arguments without the places it reads and writes
(``LOCATION_ARGS``): a run, or a whole sweep, that was moved or copied is the same run and
resumes where it stopped.  A sweep names a job's directory by the md5 of that identity's
canonical JSON (``sort_keys=True``), as DomainBed names its jobs.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
from typing import IO, Any, Iterator, Mapping

import msgspec

from rgd_bench._files import UnreadableFile, open_regular
from rgd_bench.errors import StorageError, UsageError

RESULTS_NAME = "results.jsonl"
DONE_NAME = "done"
CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pkl"
FAILURE_NAME = "failed.json"
LOCK_NAME = "lock"
OUT_NAME = "out.txt"
ERR_NAME = "err.txt"
TICKET_NAME = "scheduled.json"  # the scheduler's job that runs it (sweep/slurm_tickets.py)
# What the engine writes besides these: model_step<N>.pkl and, for WILDS runs, <split>_eval.csv.
RUN_FILE_NAMES = frozenset({RESULTS_NAME, DONE_NAME, CHECKPOINT_NAME, MODEL_NAME, FAILURE_NAME, LOCK_NAME,
                            OUT_NAME, ERR_NAME, TICKET_NAME})
# Arguments that say where a run writes or reads its data and code, not what it computes
# (a plugin file, rgd_bench.plugins, may sit at another path on each host).
LOCATION_ARGS = ("output_dir", "data_dir", "plugins")
# How a run that could not write its files carries on once the cause is fixed.
RESUME_HINT = "Fix that (free some space?) and run the same command again: the run resumes from its last checkpoint."
MAX_FIRST_LINE = 1 << 20  # a first record is a few kilobytes
# Temporary files are "<final name>.tmp-<pid>-<random>": a crash can leave one behind, and the
# next process that takes the run directory's lock removes it.
TEMPORARY_MARK = ".tmp-"


def identity(args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that make a run what it is: ``args`` without its locations."""
    return {key: value for key, value in args.items() if key not in LOCATION_ARGS}


def canonical_identity(args: Mapping[str, Any]) -> str:
    """``identity(args)`` as canonical JSON: equal strings for the same run wherever it lives."""
    return json.dumps(identity(args), sort_keys=True)


def identity_key(args: Mapping[str, Any]) -> bytes:
    """``identity(args)`` as canonical bytes to compare runs in memory (the report merges
    copies of one run): equal for runs of the same identity, and several times faster to
    make than ``canonical_identity``, which names job directories."""
    try:
        return msgspec.json.encode(identity(args), order="deterministic")
    except UnicodeEncodeError:  # a lone surrogate, which only the standard library writes (escaped)
        return canonical_identity(args).encode("ascii")


def job_id(args: Mapping[str, Any]) -> str:
    """The name of a run's directory in a sweep: md5 of its canonical identity."""
    return hashlib.md5(canonical_identity(args).encode("utf-8")).hexdigest()


def legacy_job_id(args: Mapping[str, Any]) -> str:
    """The name rgd_bench 0.1 gave the same job (its identity still held ``data_dir``), so that
    a sweep launched before can be adopted, not run again."""
    kept = {key: value for key, value in args.items() if key not in ("output_dir", "plugins")}  # 0.1 had no plugins
    return hashlib.md5(json.dumps(kept, sort_keys=True).encode("utf-8")).hexdigest()


def recorded_args(run_dir: str) -> dict[str, Any] | None:
    """The ``args`` of the run recorded in ``run_dir`` (the first line of ``results.jsonl``),
    or None when nothing is recorded yet.  UsageError when the directory holds files that
    are not a run's: a ``results.jsonl`` that is not a regular file or whose first line is
    not a record, or no run file at all among other files."""
    path = os.path.join(run_dir, RESULTS_NAME)
    if not os.path.lexists(path):
        _check_holds_run_files(run_dir)
        return None
    try:
        with open_regular(path) as f:
            first = f.readline(MAX_FIRST_LINE)
    except (UnreadableFile, OSError) as error:
        raise UsageError(f"cannot read {path!r} ({error}), so {run_dir!r} cannot hold this run; "
                         "use another --output_dir.") from None
    if not first:
        return None
    try:
        args = json.loads(first)["args"]
        if isinstance(args, dict):
            return args
    except (ValueError, TypeError, KeyError, RecursionError):
        pass
    raise UsageError(f"{path!r} is not a record of a run (its first line is not a JSON object with 'args'), "
                     f"so {run_dir!r} holds files that are not a run's; use another --output_dir or delete it.")


def _check_holds_run_files(run_dir: str) -> None:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return
    except OSError as error:
        raise UsageError(f"cannot read {run_dir!r}: {error.strerror}.") from None
    if names and not RUN_FILE_NAMES.intersection(names):
        shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
        raise UsageError(f"{run_dir!r} holds other files ({shown}) and no run; give an empty or new "
                         "--output_dir.")


@contextlib.contextmanager
def writing(path: str, hint: str = RESUME_HINT) -> Iterator[None]:
    """Turn an OSError raised inside into a one-line StorageError naming ``path``."""
    try:
        yield
    except OSError as error:
        raise StorageError(path, error, hint) from None


def is_done(run_dir: str) -> bool:
    return os.path.exists(os.path.join(run_dir, DONE_NAME))


def mark_done(run_dir: str, durable: bool = True) -> None:
    """Write ``done``: the last thing a finished run writes."""
    with atomic_file(os.path.join(run_dir, DONE_NAME), "w", durable) as f:
        f.write("done")


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "wb", durable: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success (fsync it when ``durable``) rename
    it onto ``path``.

    A reader sees the old file or the new one, never a part.  On any error (a full disk
    included) the temporary file is removed and the error goes on; ``path`` is untouched."""
    temporary = f"{path}{TEMPORARY_MARK}{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with open(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_temporaries(run_dir: str) -> list[str]:
    """Remove what a crashed writer left behind (``*.tmp-*``); return the paths removed.
    Call it only while holding the run directory's lock."""
    removed = []
    for path in glob.glob(os.path.join(glob.escape(run_dir), f"*{TEMPORARY_MARK}*")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    return removed


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
