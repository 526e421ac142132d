"""Leaderboard tables from selected checkpoints, computed as DomainBed's collect_results.

Per dataset: algorithms x test environments, each cell the mean +/- standard error over
trial seeds of the selected test accuracy, plus Avg (mean of the cell means) and Worst
(the lowest cell mean).  Averages: algorithms x datasets, each cell the mean +/- standard
error over trial seeds of that trial's mean over test environments.  Beyond DomainBed,
each algorithm is compared with a baseline by a paired t-test over (trial seed, test env).
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

from rgd_bench.environments import DATASET_ORDER, environment_names
from rgd_bench.report.records import Run
from rgd_bench.report.selection import Choice, GroupKey, SelectionMethod, group_runs, select
from rgd_bench.report.stats import PairedTest, np_mean, paired_t_test, standard_error

# DomainBed's ``algorithms.ALGORITHMS``, in its order.
DOMAINBED_ALGORITHMS = [
    "ERM", "ERMPlusPlus", "Fish", "IRM", "GroupDRO", "Mixup", "MLDG", "CORAL", "MMD", "DANN", "CDANN", "MTL",
    "SagNet", "ARM", "VREx", "RSC", "SD", "ANDMask", "SANDMask", "IGA", "SelfReg", "Fishr", "TRM", "IB_ERM", "IB_IRM",
    "CAD", "CondCAD", "Transfer", "CausIRL_CORAL", "CausIRL_MMD", "EQRM", "RDM", "ADRMX", "URM",
]
# Algorithms appear in this order (the baselines and rgd_bench's, then DomainBed's), then
# others in the order first met.
ALGORITHM_ORDER = list(dict.fromkeys(["ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO", "KLDRO", "CVaRDRO", "Chi2DRO",
                                      "JTT", "Focal", "ReWeight", "ReSample", *DOMAINBED_ALGORITHMS]))
SIGNIFICANCE_LEVEL = 0.05


@dataclass(frozen=True)
class Cell:
    """Accuracies (fractions) over trial seeds, shown as mean +/- standard error in %."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return 100 * np_mean(self.values)

    @property
    def error(self) -> float:
        return 100 * standard_error(self.values)


@dataclass
class _Table:
    cells: dict[str, list[Cell | None]]            # algorithm -> one cell per column
    comparisons: dict[str, PairedTest | None]      # algorithm -> test against the baseline

    def _means(self, algorithm: str) -> list[float] | None:
        """The row's cell means; None (X) when a cell has no result."""
        means = [c.mean if c else None for c in self.cells[algorithm]]
        return None if None in means or not means else means

    def average(self, algorithm: str) -> float | None:
        means = self._means(algorithm)
        return None if means is None else _plain_mean(means)


@dataclass
class DatasetTable(_Table):
    """Algorithms x test environments of one dataset."""

    dataset: str = ""
    environments: list[str] = field(default_factory=list)

    def worst(self, algorithm: str) -> float | None:
        means = self._means(algorithm)
        return None if means is None else min(means)


@dataclass
class AveragesTable(_Table):
    """Algorithms x datasets."""

    datasets: list[str] = field(default_factory=list)


@dataclass
class Leaderboard:
    """Everything one selection method gives: choices and the tables built from them."""

    method: type[SelectionMethod]
    algorithms: list[str]
    baseline: str | None
    choices: dict[GroupKey, Choice]
    tables: list[DatasetTable]
    averages: AveragesTable


def _plain_mean(values: list[float]) -> float:
    """``sum(values) / len(values)`` summed left to right, as DomainBed's Avg column."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def order_algorithms(runs: list[Run]) -> list[str]:
    seen = list(dict.fromkeys(run.algorithm for run in runs))
    return [a for a in ALGORITHM_ORDER if a in seen] + [a for a in seen if a not in ALGORITHM_ORDER]


def order_datasets(runs: list[Run]) -> list[str]:
    seen = set(run.dataset for run in runs)
    return [d for d in DATASET_ORDER if d in seen] + sorted(seen - set(DATASET_ORDER))


def build_leaderboards(runs: list[Run], methods: list[type[SelectionMethod]],
                       baseline: str | None = "ERM") -> list[Leaderboard]:
    groups = group_runs(runs)
    algorithms, datasets = order_algorithms(runs), order_datasets(runs)
    n_envs = {}
    for run in runs:
        n_envs[run.dataset] = max(n_envs.get(run.dataset, 0), run.n_envs)
    if baseline not in algorithms:
        baseline = None
    boards = []
    for method in methods:
        choices = select(method, groups)
        tables = [_dataset_table(d, environment_names(d, n_envs[d]), algorithms, choices, baseline)
                  for d in datasets]
        boards.append(Leaderboard(method, algorithms, baseline, choices, tables,
                                  _averages_table(datasets, algorithms, choices, baseline)))
    return boards


def _accs_by_trial_env(choices: dict[GroupKey, Choice], dataset: str, algorithm: str) -> dict[tuple, float]:
    """{(trial_seed, test_env): selected test accuracy}, in the groups' order."""
    return {(t, e): c.test_acc for (t, d, a, e), c in choices.items() if d == dataset and a == algorithm}


def _dataset_table(dataset, environments, algorithms, choices, baseline) -> DatasetTable:
    table = DatasetTable({}, {}, dataset, environments)
    per_alg = {a: _accs_by_trial_env(choices, dataset, a) for a in algorithms}
    for algorithm in algorithms:
        by_env = collections.defaultdict(list)
        for (_, env), acc in per_alg[algorithm].items():
            by_env[env].append(acc)
        table.cells[algorithm] = [Cell(tuple(by_env[e])) if by_env[e] else None
                                  for e in range(len(environments))]
        if baseline is not None and algorithm != baseline:
            table.comparisons[algorithm] = compare(per_alg[algorithm], per_alg[baseline])
    return table


def _averages_table(datasets, algorithms, choices, baseline) -> AveragesTable:
    table = AveragesTable({}, {}, datasets)
    pairs = {a: {} for a in algorithms}
    for algorithm in algorithms:
        row = []
        for dataset in datasets:
            accs = _accs_by_trial_env(choices, dataset, algorithm)
            by_trial = collections.defaultdict(list)
            for (trial, _), acc in accs.items():
                by_trial[trial].append(acc)
            trial_means = [np_mean(by_trial[t]) for t in sorted(by_trial)]
            row.append(Cell(tuple(trial_means)) if trial_means else None)
            pairs[algorithm].update({(dataset, *k): v for k, v in accs.items()})
        table.cells[algorithm] = row
    if baseline is not None:
        for algorithm in algorithms:
            if algorithm != baseline:
                table.comparisons[algorithm] = compare(pairs[algorithm], pairs[baseline])
    return table


def compare(values: dict, baseline_values: dict, scale: float = 100.0) -> PairedTest | None:
    """Paired t-test of an algorithm against the baseline over their common pairs (the keys
    both have), on the values times ``scale`` (accuracies in %)."""
    common = [k for k in values if k in baseline_values]
    return paired_t_test([scale * values[k] for k in common], [scale * baseline_values[k] for k in common])
