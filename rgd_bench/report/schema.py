"""What a valid line of ``results.jsonl`` is: declared once, checked in one pass.

A record is a JSON object with the run's ``args`` (an object naming at least the dataset,
the algorithm and the two seeds), an integer ``step`` >= 0 and the metrics the report
reads, each a finite number: DomainBed's per-environment accuracies ``env{i}_in_acc`` /
``env{i}_out_acc`` (every environment, both splits), or, for runs trained under WILDS's
protocol, ``val_metric`` and the ``{split}_{metric}`` values of ``eval()`` (and ``epoch``, when
the run's first record has one), or, for runs trained under the subpopulation protocol,
``protocol: "subpopulation"`` and its ``{split}_{metric}`` values (train, val and test).
Accuracies (every metric whose name holds "acc"), calibration errors and AUROCs lie in [0, 1].  The first valid record of a run fixes its ``Schema``: the metric keys every later
record must carry.

Each schema is checked two ways from the same declaration (``Field``): a msgspec struct that
parses and validates a whole file in C, and ``Schema.check`` in Python for the lines the
struct refuses (to say why, and to accept what only the standard library can parse, such as
the ``NaN`` loss of a diverged run's last record).
"""
from __future__ import annotations

import functools
import json
import math
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import msgspec

from rgd_bench.values import is_finite

# The kinds of rejected lines, in the order the report lists them.
MALFORMED = "malformed JSON"
NOT_A_RECORD = "not a record"
BAD_VALUE = "bad value"
FOREIGN_ARGS = "foreign args"
DUPLICATE_STEP = "duplicate step"
KINDS = (MALFORMED, NOT_A_RECORD, BAD_VALUE, FOREIGN_ARGS, DUPLICATE_STEP)

REQUIRED_ARGS = {"dataset": str, "algorithm": str, "trial_seed": int, "hparams_seed": int}
MAX_STEP = 2**53  # steps are exact in the float64 columns below this
_ACCURACY = re.compile(r"env(\d+)_(in|out)_acc")
_WILDS_METRIC = re.compile(r"(?:id_)?(?:val|test)_.+")
SUBPOPULATION = "subpopulation"  # the protocol key of the subpopulation protocol's records
_SUBPOPULATION_METRIC = re.compile(
    r"(?:train|val|test)_(?:avg_acc|worst_group_acc|balanced_acc|worst_class_acc|ece|auroc|acc_y\d+_a\d+)")
# What selecting a subpopulation run's checkpoints needs (the report's subpopulation methods).
SUBPOPULATION_REQUIRED = ("val_avg_acc", "val_worst_group_acc", "val_worst_class_acc", "test_avg_acc",
                          "test_worst_group_acc")
_FLOAT_MAX = sys.float_info.max


class RecordError(Exception):
    """Why a line is not a valid record: ``kind`` (one of KINDS) and a short ``reason``."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason = kind, reason


@dataclass(frozen=True)
class Field:
    """One metric of a record and the closed range its value must lie in."""

    key: str
    low: float
    high: float

    @classmethod
    def of(cls, key: str) -> "Field":
        unit = "acc" in key.lower() or key.endswith(("_ece", "_auroc"))
        return cls(key, 0.0, 1.0) if unit else cls(key, -_FLOAT_MAX, _FLOAT_MAX)

    def problem(self, record: dict) -> str | None:
        if self.key not in record:
            return f"no {self.key}"
        value = record[self.key]
        if not _is_number(value) or not (is_finite(value) and self.low <= value <= self.high):
            allowed = "a number in [0, 1]" if self.high == 1.0 else "a finite number"
            return f"{self.key} is {_short(value)}, not {allowed}"
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    """A value as the summary line shows it (never "nan": no report shows that word)."""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "non-finite"
    text = json.dumps(value, allow_nan=False, default=str) if not _has_non_finite(value) else "non-finite"
    return text if len(text) <= 40 else text[:37] + "..."


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(map(_has_non_finite, value.values()))
    return isinstance(value, list) and any(map(_has_non_finite, value))


class _Head(msgspec.Struct):
    args: msgspec.Raw


HEAD_DECODER = msgspec.json.Decoder(_Head)


@dataclass(frozen=True)
class Schema:
    """The metrics of one run's records (sorted by key); ``val_metric`` for WILDS runs, ``protocol``
    for the subpopulation protocol's."""

    metrics: tuple[Field, ...]
    val_metric: str | None = None
    protocol: str | None = None

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(field.key for field in self.metrics)

    @cached_property
    def n_envs(self) -> int:
        """DomainBed runs: the environments whose accuracies every record carries."""
        return sum(key.endswith("_out_acc") and key.startswith("env") for key in self.keys)

    @cached_property
    def decoder(self) -> msgspec.json.Decoder:
        """A decoder of this schema's records into structs of the fields, in this order:
        step, the metrics, ``args`` (raw, for the caller to compare), ``val_metric`` (WILDS
        runs), ``protocol`` (subpopulation runs) and ``diverged``."""
        names = [f"m{i}" for i in range(len(self.metrics))]
        fields: list[tuple] = [("step", Annotated[int, msgspec.Meta(ge=0, le=MAX_STEP)])]
        fields += [(name, Annotated[float, msgspec.Meta(ge=f.low, le=f.high)])
                   for name, f in zip(names, self.metrics)]
        fields.append(("args", msgspec.Raw))
        if self.val_metric is not None:
            fields.append(("val_metric", Literal[self.val_metric]))  # type: ignore[valid-type]
        if self.protocol is not None:
            fields.append(("protocol", Literal[self.protocol]))  # type: ignore[valid-type]
        fields.append(("diverged", bool, False))
        struct = msgspec.defstruct("Record", fields, rename=dict(zip(names, self.keys)), gc=False)
        return msgspec.json.Decoder(struct)

    @cached_property
    def array_decoder(self) -> msgspec.json.Decoder:
        """The same records, as a JSON array of them."""
        return msgspec.json.Decoder(list[self.decoder.type])  # type: ignore[name-defined]

    def row(self, record: msgspec.Struct) -> tuple:
        """(step, *metrics, diverged) of a struct from ``decoder``, as ``check`` gives it."""
        values = msgspec.structs.astuple(record)
        return (*values[:1 + len(self.metrics)], values[-1])

    def check(self, record: Any) -> tuple:
        """(step, *metrics, diverged) of a parsed record; RecordError if it is not valid.

        The same rules as ``decoder`` (the fast path, whose caller checks ``args``), with the
        reason spelled out."""
        check_record_shape(record)
        if not any(key in record for key in self.keys):
            raise RecordError(NOT_A_RECORD, f"none of the run's metrics ({self.keys[0]}, ...)")
        step = record["step"]
        if not (isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_STEP):
            raise RecordError(BAD_VALUE, f"step is {_short(step)}, not an integer >= 0")
        problems = [p for p in (field.problem(record) for field in self.metrics) if p]
        if self.val_metric is not None and record.get("val_metric") != self.val_metric:
            problems.append(f"val_metric is {_short(record.get('val_metric'))}, not {self.val_metric!r}")
        if self.protocol is not None and record.get("protocol") != self.protocol:
            problems.append(f"protocol is {_short(record.get('protocol'))}, not {self.protocol!r}")
        diverged = record.get("diverged", False)
        if not isinstance(diverged, bool):
            problems.append(f"diverged is {_short(diverged)}, not true or false")
        if problems:
            raise RecordError(BAD_VALUE, "; ".join(problems[:3]))
        return (step, *(record[key] for key in self.keys), diverged)


def parse_line(line: bytes) -> Any:
    """Any JSON value, ``NaN`` and ``Infinity`` included (DomainBed writes them for a diverged
    loss); RecordError(MALFORMED) if the line is not JSON."""
    try:
        return msgspec.json.decode(line)
    except msgspec.DecodeError:  # NaN, Infinity or a number beyond float: the standard library reads them
        try:
            return json.loads(line)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            raise RecordError(MALFORMED, str(error).split(":")[0]) from None


def check_record_shape(record: Any) -> None:
    """RecordError(NOT_A_RECORD) unless ``record`` is an object with a ``step`` and ``args``
    naming a run (``check_args``)."""
    if not isinstance(record, dict):
        raise RecordError(NOT_A_RECORD, f"a JSON {type(record).__name__}, not an object")
    if "step" not in record:
        raise RecordError(NOT_A_RECORD, "no 'step'")
    check_args(record.get("args"))


def check_args(args: Any) -> None:
    """RecordError(NOT_A_RECORD) unless ``args`` is an object naming the dataset, the
    algorithm and the two seeds."""
    if not isinstance(args, dict):
        raise RecordError(NOT_A_RECORD, "'args' is not an object")
    for name, kind in REQUIRED_ARGS.items():
        value = args.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) or value == "":
            raise RecordError(NOT_A_RECORD, f"args.{name} is {_short(value)}, not a {kind.__name__}")


def schema_of(record: Any) -> Schema:
    """The schema a run's first valid record sets; RecordError if it is no record at all."""
    check_record_shape(record)
    if not isinstance(record.get("hparams", {}), dict):
        raise RecordError(BAD_VALUE, "hparams is not an object")
    if is_wilds_record(record):
        return _wilds_schema(record)
    if is_subpopulation_record(record):
        return _subpopulation_schema(record)
    schema = _domainbed_schema(tuple(record))
    test_envs = record["args"].get("test_envs")
    if not (isinstance(test_envs, list) and test_envs and len(set(map(repr, test_envs))) == len(test_envs)
            and all(isinstance(e, int) and not isinstance(e, bool) and 0 <= e < schema.n_envs for e in test_envs)):
        raise RecordError(BAD_VALUE, f"args.test_envs is {_short(test_envs)}, not a list of distinct "
                                     f"environments in 0..{schema.n_envs - 1}")
    return schema


@functools.lru_cache(maxsize=256)
def _domainbed_schema(keys: tuple[str, ...]) -> Schema:
    """DomainBed's accuracies of every environment up to the highest one named in ``keys``
    (cached: a sweep's records all have the same keys, so each of its runs shares one schema
    and one decoder)."""
    found = [m for m in map(_ACCURACY.fullmatch, keys) if m]
    if not found:
        raise RecordError(NOT_A_RECORD, "no env{i}_in_acc / env{i}_out_acc and no val_metric")
    n_envs = 1 + max(int(m.group(1)) for m in found)
    return Schema(tuple(Field.of(key) for key in sorted(f"env{i}_{split}_acc" for i in range(n_envs)
                                                        for split in ("in", "out"))))


def is_wilds_record(record: dict) -> bool:
    """Was the record written under WILDS's protocol (it names its official metric)?"""
    return isinstance(record.get("val_metric"), str)


def _wilds_schema(record: dict) -> Schema:
    val_metric = record["val_metric"]
    keys = sorted(key for key, value in record.items() if _WILDS_METRIC.fullmatch(key) and _is_number(value))
    if f"val_{val_metric}" not in keys:
        raise RecordError(BAD_VALUE, f"val_metric names {val_metric!r} but there is no val_{val_metric}")
    if _is_number(record.get("epoch")):
        keys.append("epoch")  # WILDS counts in epochs: the report's curves are against it
    return _wilds_schema_of(tuple(keys), val_metric)


def is_subpopulation_record(record: dict) -> bool:
    """Was the record written under the subpopulation protocol?"""
    return record.get("protocol") == SUBPOPULATION


def _subpopulation_schema(record: dict) -> Schema:
    keys = sorted(key for key, value in record.items()
                  if _SUBPOPULATION_METRIC.fullmatch(key) and _is_number(value))
    missing = [key for key in SUBPOPULATION_REQUIRED if key not in keys]
    if missing:
        raise RecordError(BAD_VALUE, f"a subpopulation record without {missing[0]}")
    if _is_number(record.get("epoch")):
        keys.append("epoch")
    return _subpopulation_schema_of(tuple(keys))


@functools.lru_cache(maxsize=256)
def _subpopulation_schema_of(keys: tuple[str, ...]) -> Schema:
    return Schema(tuple(Field.of(key) for key in keys), protocol=SUBPOPULATION)


@functools.lru_cache(maxsize=256)
def _wilds_schema_of(keys: tuple[str, ...], val_metric: str) -> Schema:
    return Schema(tuple(Field.of(key) for key in keys), val_metric)
