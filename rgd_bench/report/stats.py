"""Statistics for the report in plain Python (no numpy import: the report must start fast).

``np_sum``, ``np_mean`` and ``np_std`` reproduce numpy's float64 results bit for bit
(numpy's pairwise summation), so that every number and every tie in model selection comes
out as in DomainBed's collect_results, which uses numpy.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Iterable, Sequence

_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE


def np_sum(values: Sequence[float]) -> float:
    """``numpy.sum`` of a 1-D float64 array: pairwise summation with 8 accumulators."""
    return _pairwise(values, 0, len(values))


def _pairwise(a: Sequence[float], start: int, n: int) -> float:
    if n < 8:
        total = -0.0  # numpy starts from -0.0 so that a sum of -0.0s stays -0.0
        for i in range(start, start + n):
            total += a[i]
        return total
    if n <= _PAIRWISE_BLOCK:
        r = [a[start + j] for j in range(8)]
        whole = n - n % 8
        for i in range(8, whole, 8):
            for j in range(8):
                r[j] += a[start + i + j]
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(start + whole, start + n):
            total += a[i]
        return total
    half = n // 2
    half -= half % 8
    return _pairwise(a, start, half) + _pairwise(a, start + half, n - half)


def np_mean(values: Sequence[float]) -> float:
    return np_sum(values) / len(values)


def np_sums_across(columns: Sequence[Sequence[float]]) -> list[float]:
    """``[np_sum(row) for row in zip(*columns)]``: per position, the numpy sum of the columns'
    values in column order.  Fewer than 8 columns (numpy adds them one after another) are
    added a column at a time by ``map`` in C: bit for bit the same, many times faster."""
    if len(columns) >= 8:
        return [np_sum(row) for row in zip(*columns)]
    if not columns:
        return []
    sums: Iterable[float] = columns[0]  # -0.0 + x is x for every x, signed zeros included
    for column in columns[1:]:
        sums = map(operator.add, sums, column)
    return list(sums)


def np_std(values: Sequence[float]) -> float:
    """``numpy.std`` with ddof=0."""
    mean = np_mean(values)
    return math.sqrt(np_sum([(v - mean) * (v - mean) for v in values]) / len(values))


def standard_error(values: Sequence[float]) -> float:
    """DomainBed's error bar: ``np.std(data / sqrt(n))``, i.e. the population standard
    deviation (ddof=0) divided by sqrt(n)."""
    root_n = math.sqrt(len(values))
    return np_std([v / root_n for v in values])


@dataclass(frozen=True)
class PairedTest:
    """A two-sided paired t-test of ``a - b``."""

    n_pairs: int
    mean_difference: float
    p_value: float

    def significant(self, level: float = 0.05) -> bool:
        return self.p_value < level


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTest | None:
    """Two-sided paired t-test of H0: mean(a - b) = 0 (``scipy.stats.ttest_rel``).

    None with fewer than 2 pairs.  With identical differences the test is decided
    exactly: p = 1 when they are all 0, else p = 0.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        return None
    diffs = [x - y for x, y in zip(a, b)]
    mean = math.fsum(diffs) / n
    variance = math.fsum((d - mean) ** 2 for d in diffs) / (n - 1)
    if variance == 0.0:
        return PairedTest(n, mean, 1.0 if mean == 0.0 else 0.0)
    t = mean / math.sqrt(variance / n)
    df = n - 1
    p = regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return PairedTest(n, mean, min(1.0, max(0.0, p)))


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by Lentz's continued fraction (Numerical Recipes, betai/betacf)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                          -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h
