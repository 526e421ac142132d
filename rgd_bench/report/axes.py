"""How the sensitivity plots draw each hyperparameter: decided once per dataset, from the runs
of every algorithm, so that a hyperparameter has the same axis in every algorithm's figure.

Strings, booleans, other non-numbers and integers with few distinct values (``mlp_depth``,
``optimizer``, ``also_mode``, ``rgd_temperature_rule``, ``nonlinear_classifier``) go on a
categorical axis; other numbers on a numeric one, logarithmic when they are positive and
span a factor LOG_RATIO or more (``lr``, ``rgd_clip``), with at most MAX_TICKS labelled
ticks so that no two labels overlap.  Pure Python: matplotlib only draws what this decides.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

FEW_INTEGERS = 8   # an integer hyperparameter with at most this many values is categorical
LOG_RATIO = 20     # log axis when all values are positive and max/min reaches this
LOG_PAD = 1.3      # log axes reach this factor beyond the extreme values
MAX_TICKS = 4      # labelled ticks on a log axis


def category_label(value: Any) -> str:
    """A hyperparameter value as a category's label: strings as they are, the rest as JSON
    (``true``, ``null``, ``3``), so that distinct values have distinct labels."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class HparamAxis:
    """A hyperparameter's x-axis: categorical (``categories``, in order) or numeric, linear or
    log, between ``limits``."""

    name: str
    limits: tuple[float, float]
    categories: tuple[str, ...] = ()
    log: bool = False

    def position(self, value: Any) -> float:
        """Where ``value`` goes on the axis."""
        return float(self.categories.index(category_label(value))) if self.categories else float(value)

    def ticks(self) -> list[float]:
        """Labelled ticks of a log axis: powers of ten (every n-th when there are many), or
        1 and 3 times them when fewer than two powers of ten fall within the limits."""
        low, high = self.limits
        first, last = math.ceil(math.log10(low)), math.floor(math.log10(high))
        decades = list(range(first, last + 1))
        if len(decades) >= 2:
            return [10.0 ** k for k in decades[::math.ceil(len(decades) / MAX_TICKS)]]
        return [m * 10.0 ** k for k in range(first - 1, last + 1) for m in (1, 3) if low <= m * 10.0 ** k <= high]


def tick_text(value: float) -> str:
    return f"{value:g}"


def hparam_axis(name: str, values: Iterable[Any]) -> HparamAxis:
    """The axis of hyperparameter ``name`` taking ``values`` (over all the runs it is drawn for)."""
    values = list(values)
    numbers = [_number(v) for v in values]
    few_integers = all(isinstance(v, int) for v in values) and len(set(numbers)) <= FEW_INTEGERS
    if values and None not in numbers and not few_integers:
        low, high = min(numbers), max(numbers)
        if low > 0 and high / low >= LOG_RATIO:
            return HparamAxis(name, (low / LOG_PAD, high * LOG_PAD), log=True)
        pad = 0.05 * (high - low) or 0.5 * abs(low) or 0.5
        return HparamAxis(name, (low - pad, high + pad))
    by_label = {category_label(v): v for v in values}

    def order(label: str) -> tuple:
        """Numbers in numeric order (2, 3, 16), then the others (false, true; adam, sgd) by label."""
        number = _number(by_label[label])
        return (0, number, "") if number is not None else (1, 0.0, label)

    labels = sorted(by_label, key=order)
    return HparamAxis(name, (-0.5, len(labels) - 0.5), tuple(labels))


def hparam_axes(hparams: Iterable[dict[str, Any]]) -> dict[str, HparamAxis]:
    """The axis of every hyperparameter found in ``hparams`` (one dict per run)."""
    values: dict[str, list[Any]] = {}
    for run_hparams in hparams:
        for name, value in run_hparams.items():
            values.setdefault(name, []).append(value)
    return {name: hparam_axis(name, found) for name, found in sorted(values.items())}


def varying_hparams(hparams: list[dict[str, Any]]) -> list[str]:
    """Hyperparameters that every run has and that take two values or more, sorted."""
    if not hparams:
        return []
    names = set(hparams[0]).intersection(*hparams[1:])
    return [name for name in sorted(names) if len({category_label(h[name]) for h in hparams}) > 1]
