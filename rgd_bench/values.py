"""Values declared once: a type, a range, a set of choices, and the one-line message when a
value breaks them.  Hyperparameters, the training flags and the sweep keys are all checked
through a ``Spec``, so the command line, a sweep file and ``--hparams`` say the same thing
about the same value.

    >>> Spec(float, Range(0, 1, high_open=True)).problem(1.5)
    'must be a float in [0, 1)'
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """An interval of numbers; a missing end is unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self, integer: bool) -> str:
        """"> 0", ">= 1", "in [0, 1)" or, for integers, "in 1..16384"."""
        low, high = _number(self.low), _number(self.high)
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        if integer and not self.low_open and not self.high_open:
            return f"in {low}..{high}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{value:g}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
OPEN_UNIT_INTERVAL = Range(0, 1, low_open=True, high_open=True)  # (0, 1): a share of each environment

_NAMES = {bool: "true or false", int: "an integer", float: "a float", str: "a string", dict: "a table"}
_PLURALS = {bool: "booleans", int: "integers", float: "floats", str: "strings"}


@dataclass(frozen=True)
class Spec:
    """What a value must be: ``kind`` (bool, int, float, str or list), its ``range`` (numbers),
    its ``choices``, and for a list, the ``item`` spec of each element and whether it may be
    empty.  Floats accept integers (JSON and TOML write 1 for 1.0) but never booleans."""

    kind: type
    range: Range | None = None
    choices: tuple = ()
    item: "Spec | None" = None
    empty_ok: bool = False

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is list:
            what = _PLURALS.get(self.item.kind, "values") if self.item else "values"
            return f"a {'' if self.empty_ok else 'non-empty '}list of {what}"
        name = _NAMES.get(self.kind, self.kind.__name__)
        if self.range is None:
            return name
        if self.range == POSITIVE:
            return "a positive " + name.split(" ", 1)[1]
        return f"{name} {self.range.describe(self.kind is int)}"

    def problem(self, value: Any) -> str | None:
        """"must be ..." when ``value`` breaks the spec, else None."""
        if not self._fits(value):
            return f"must be {self.describe()}"
        return None

    def _fits(self, value: Any) -> bool:
        if self.kind is list:
            return (isinstance(value, list) and (self.empty_ok or len(value) > 0)
                    and (self.item is None or all(self.item._fits(v) for v in value)))
        if isinstance(value, bool) != (self.kind is bool):
            return False
        if self.kind is float:
            if not isinstance(value, (int, float)) or not is_finite(value):
                return False
        elif not isinstance(value, self.kind):
            return False
        if self.choices and value not in self.choices:
            return False
        return self.range is None or self.range.contains(value)

    def message(self, what: str, value: Any) -> str | None:
        """"<what> must be ... Got <value> instead." when ``value`` breaks the spec, else None."""
        problem = self.problem(value)
        return None if problem is None else f"{what} {problem}. Got {value!r} instead."

    def parse(self, text: str) -> Any:
        """An argparse ``type=``: the value of a command-line word, or an error in one line."""
        try:
            value = {int: int, float: float}.get(self.kind, str)(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.describe()}. Got {text!r} instead.") from None
        problem = self.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem}. Got {text!r} instead.")
        return value


def is_finite(value: int | float) -> bool:
    """``math.isfinite``, False for an int beyond the float range instead of an error."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range (a huge JSON integer)
        return False
