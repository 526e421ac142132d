"""A claim's result from validated records: one score per seed for each arm, the paired
difference, its 95% confidence interval over seeds, and the verdict."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from rgd_bench.paper_checks.claims import LAST_STEP, Arm, Claim
from rgd_bench.report.records import Run
from rgd_bench.report.selection import TrainingDomainValidation, group_runs, select
from rgd_bench.report.stats import np_mean

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable here"


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def text(self) -> str:
        return f"{self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}] (n={self.n})"


def confidence_interval(values: list[float], level: float = 0.95) -> Interval | None:
    """Mean and Student-t interval over seeds; None with fewer than 2 values."""
    from scipy.stats import t

    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def seed_scores(claim: Claim, arm: Arm, runs: list[Run]) -> dict[int, float]:
    """Per trial seed, the arm's score in percent; seeds missing a dataset or a test
    environment are left out (never averaged over fewer)."""
    mine = [r for r in runs if r.dataset in claim.datasets and arm.holds(r)]
    per_seed: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    expected: dict[str, set] = defaultdict(set)
    if claim.score == LAST_STEP:
        for run in mine:
            per_seed[run.trial_seed][run.dataset].append(run.columns[f"env{claim.env}_in_acc"][-1])
            expected[run.dataset].add(0)
    else:
        for (trial, dataset, _, test_env), choice in select(TrainingDomainValidation, group_runs(mine)).items():
            per_seed[trial][dataset].append(choice.test_acc)
        for run in mine:
            expected[run.dataset].update(run.test_envs)
    scores = {}
    for trial, by_dataset in per_seed.items():
        complete = all(len(by_dataset.get(d, ())) == len(expected[d]) for d in claim.datasets)
        if complete and all(expected[d] for d in claim.datasets):
            scores[trial] = 100 * np_mean([np_mean(by_dataset[d]) for d in claim.datasets])
    return scores


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    method: Interval | None
    baseline: Interval | None
    difference: Interval | None
    verdict: str
    why: str


def judge(claim: Claim, runs: list[Run]) -> Outcome:
    """Reproduced when the 95% interval of the paired difference (method - baseline, over
    the seeds both finished) lies above 0."""
    method, baseline = seed_scores(claim, claim.method, runs), seed_scores(claim, claim.baseline, runs)
    paired = sorted(set(method) & set(baseline))
    difference = confidence_interval([method[s] - baseline[s] for s in paired])
    arms = confidence_interval(list(method.values())), confidence_interval(list(baseline.values()))
    if difference is None:
        return Outcome(claim, *arms, None, NOT_TESTABLE, f"{len(paired)} seed(s) with both arms finished; 2 needed")
    size = "" if claim.paper_value is None else (
        f"; the paper's {claim.paper_value:+g} is " + ("inside the interval" if difference.low <= claim.paper_value
                                                       <= difference.high else "outside the interval"))
    if difference.low > 0:
        return Outcome(claim, *arms, difference, REPRODUCED, "the 95% interval lies above 0" + size)
    if difference.high < 0:
        return Outcome(claim, *arms, difference, NOT_REPRODUCED, "the other way: the interval lies below 0" + size)
    return Outcome(claim, *arms, difference, NOT_REPRODUCED, "no significant difference: the interval holds 0" + size)
