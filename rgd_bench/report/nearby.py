"""Sweep directories under or beside the paths a report was given, by the protocol their runs
were trained under: to name where the runs are when the selection asked for finds none.

A directory's protocol is read from the first line of a few of its runs' ``results.jsonl``
(the schema's rule, ``is_wilds_record``), so looking around costs a few small reads per
directory, never a load.
"""
from __future__ import annotations

import json
import os

from rgd_bench._files import UnreadableFile, open_regular
from rgd_bench.report.records import find_run_dirs
from rgd_bench.report.schema import is_wilds_record
from rgd_bench.rundir import MAX_FIRST_LINE, RESULTS_NAME

WILDS = "WILDS"
DOMAINBED = "DomainBed"
PEEK_RUNS = 5             # runs read per directory: sweeps rarely mix protocols
MAX_DIRECTORIES = 1000    # directories looked into beside and under the given paths


def run_protocol(run_dir: str) -> str | None:
    """WILDS or DomainBed, from the run's first record; None when it has none readable."""
    try:
        with open_regular(os.path.join(run_dir, RESULTS_NAME)) as f:
            record = json.loads(f.readline(MAX_FIRST_LINE))
    except (UnreadableFile, OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    return WILDS if is_wilds_record(record) else DOMAINBED


def protocols_in(directory: str) -> set[str]:
    """The protocols of the first PEEK_RUNS readable runs of a sweep (or run) directory."""
    found: set[str] = set()
    try:
        run_dirs = find_run_dirs(directory)
    except OSError:
        return found
    peeked = 0
    for run_dir in run_dirs:
        protocol = run_protocol(run_dir)
        if protocol is not None:
            found.add(protocol)
            peeked += 1
            if peeked == PEEK_RUNS:
                break
    return found


def _subdirectories(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(os.path.normpath(os.path.join(path, e.name)) for e in entries if e.is_dir())
    except OSError:
        return []


def nearby_with(paths: list[str], protocol: str) -> list[str]:
    """Sweep directories under each of ``paths`` and beside it (its parent's other
    subdirectories) whose runs include ``protocol``'s; run directories (parts of a sweep) and
    the paths themselves are not listed."""
    given = {os.path.realpath(p) for p in paths}
    candidates: dict[str, None] = {}
    for path in paths:
        for parent in (path, os.path.normpath(os.path.join(path, os.pardir))):
            candidates.update(dict.fromkeys(_subdirectories(parent)))
    found, looked = [], 0
    for directory in candidates:
        if os.path.realpath(directory) in given or os.path.lexists(os.path.join(directory, RESULTS_NAME)):
            continue
        looked += 1
        if looked > MAX_DIRECTORIES:
            break
        if protocol in protocols_in(directory):
            found.append(directory)
    return found
