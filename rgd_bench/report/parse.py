"""One ``results.jsonl`` in, its valid records out as columns; every other line counted.

A clean file (one object per line, every one a valid record of the first one's run, no step
twice) is decoded whole by msgspec in C.  Any flaw sends the file through ``_parse_lines``,
which checks each line on its own, so a rejected line is counted once, with its place and
reason, by the same rules (``schema.py``).
"""
from __future__ import annotations

from array import array
from typing import Any, Protocol

import msgspec

from rgd_bench.report.schema import (DUPLICATE_STEP, FOREIGN_ARGS, HEAD_DECODER, RecordError, Schema, check_args,
                                     parse_line, schema_of)
from rgd_bench.rundir import identity


class Tally(Protocol):
    """Where the lines read and rejected are counted."""

    n_lines: int

    def reject(self, kind: str, where: str) -> None: ...


def parse_results(data: bytes, path: str, tally: Tally) -> tuple[dict, Schema, dict[str, array], bool] | None:
    """The valid records of a ``results.jsonl`` (``path`` names it in the examples of rejected
    lines): the first one, the run's schema, the float64 columns by name ("step" and the
    schema's metrics) and whether the run diverged.  None when no line is a valid record."""
    parsed = _parse_whole(data, tally) or _parse_lines(data, path, tally)
    if parsed is None:
        return None
    first, schema, columns = parsed
    named = {key: array("d", values) for key, values in zip(("step", *schema.keys), columns)}
    return first, schema, named, any(columns[-1])


def _parse_whole(data: bytes, tally: Tally) -> tuple[dict, Schema, list[tuple]] | None:
    """A clean file in one call: its lines, joined by commas into a JSON array, decoded
    whole, which holds only when each line is exactly one object (two on a line, a blank
    line or a record over two lines break the array); every one a valid record with the
    first one's args and a new step.  Returns the columns of the decoder's fields; None when
    anything is off (the caller then reads the file line by line, and counts its lines)."""
    end = data.find(b"\n")
    try:
        first = msgspec.json.decode(data[:end] if end >= 0 else data)
        schema = schema_of(first)
        body = data[:-1] if data.endswith(b"\n") else data
        records = schema.array_decoder.decode(b"[" + body.replace(b"\n", b",") + b"]")
    except (msgspec.DecodeError, RecordError):
        return None
    columns = list(zip(*map(msgspec.structs.astuple, records)))  # transposed in C
    args = columns[1 + len(schema.metrics)]
    if args.count(args[0]) != len(records) or len(set(columns[0])) != len(records):
        return None  # foreign args or a repeated step: let the line-by-line reader say where
    tally.n_lines += len(records)
    return first, schema, columns


class _SameRun:
    """Does a line's ``args`` belong to the run of the first valid line (locations aside)?"""

    def __init__(self, line: bytes, args: dict):
        try:
            self.raw = HEAD_DECODER.decode(line).args
        except msgspec.DecodeError:
            self.raw = None
        self.identity = identity(args)

    def check(self, args: Any) -> None:
        if isinstance(args, msgspec.Raw):
            if args == self.raw:
                return
            args = msgspec.json.decode(args)
        check_args(args)
        if identity(args) != self.identity:
            raise RecordError(FOREIGN_ARGS, "args of another run")


def _parse_lines(data: bytes, path: str, tally: Tally) -> tuple[dict, Schema, list[tuple]] | None:
    """Every line checked on its own; each rejected one counted with its place and reason.
    The first valid line sets the run's schema and args.  Returns the columns of the rows
    (step, *metrics, diverged)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    tally.n_lines += len(lines)
    first: dict = {}
    schema: Schema | None = None
    same_run: _SameRun | None = None
    rows: list[tuple] = []
    steps: set[int] = set()
    for number, line in enumerate(lines, 1):
        try:
            if same_run is None:
                parsed = parse_line(line)
                candidate = schema_of(parsed)
                row = candidate.check(parsed)
                first, schema, same_run = parsed, candidate, _SameRun(line, parsed["args"])
            else:
                row = _checked_row(line, schema, same_run)
                if row[0] in steps:
                    raise RecordError(DUPLICATE_STEP, f"step {row[0]} again")
        except RecordError as error:
            tally.reject(error.kind, f"{path}:{number} ({error.reason})")
            continue
        steps.add(row[0])
        rows.append(row)
    return (first, schema, list(zip(*rows))) if schema is not None else None


def _checked_row(line: bytes, schema: Schema, same_run: _SameRun) -> tuple:
    """The row of a line after the first valid one; RecordError says why it is rejected."""
    try:
        record = schema.decoder.decode(line)
    except msgspec.DecodeError:  # say why, or accept what only the standard library parses (NaN)
        parsed = parse_line(line)
        row = schema.check(parsed)
        same_run.check(parsed["args"])
        return row
    same_run.check(record.args)
    return schema.row(record)
