"""Model selection and tables for runs trained under the subpopulation protocol, as SubpopBench's
``model_selection.py`` and ``collect_results.py``.

Each run keeps the checkpoint with the best value of its method's validation metric (the first
among equals); within each (dataset, attribute setting, algorithm, trial seed) the hyperparameters
whose chosen checkpoint has the best value win (the first hparams seed among equals), as
SubpopBench (and DomainBed) select per trial seed.  The table shows the chosen checkpoints' test
metrics as mean +/- standard deviation (ddof=1) over trial seeds, and each algorithm's paired
t-test against the baseline over trial seeds, per column.

The four methods (``--selection``):

* ``subpop_worst_group``: best validation worst-group accuracy (attributes known in validation;
  SubpopBench's ``ValWorstAccAttributeYes``);
* ``subpop_worst_class``: best validation worst-class accuracy (attributes unknown in validation;
  ``ValWorstAccAttributeNo``);
* ``subpop_average``: best validation average accuracy (``ValMeanAcc``);
* ``subpop_oracle``: best test worst-group accuracy (``OracleWorstAcc``), an upper bound, never a
  result to claim.

One table per dataset and attribute setting (``--train_attr``: whether training knew the
attributes).
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from rgd_bench.report.leaderboard import compare
from rgd_bench.report.metric_tables import MetricLeaderboard, MetricTable, Spread, metric_scale
from rgd_bench.report.records import Run
from rgd_bench.report.selection import Choice

SPLIT = "test"
METRICS = ("avg_acc", "worst_group_acc", "balanced_acc", "worst_class_acc", "ece", "auroc")
DECREASING = ("ece",)


@dataclass(frozen=True)
class SubpopulationSelection:
    key: str
    name: str
    column: str  # the record key each run's checkpoint is chosen by


SELECTIONS = (
    SubpopulationSelection("subpop_worst_group", "validation worst-group accuracy (attributes known in validation)",
                           "val_worst_group_acc"),
    SubpopulationSelection("subpop_worst_class", "validation worst-class accuracy (attributes unknown in validation)",
                           "val_worst_class_acc"),
    SubpopulationSelection("subpop_average", "validation average accuracy", "val_avg_acc"),
    SubpopulationSelection("subpop_oracle", "test worst-group accuracy (oracle)", "test_worst_group_acc"),
)
SELECTION_KEYS = {selection.key: selection for selection in SELECTIONS}
NOTES = [
    "Subpopulation methods: test metrics at each run's checkpoint with the best value of the method's "
    "validation metric, hyperparameters chosen per trial seed by the same value, as SubpopBench; mean +/- "
    "standard deviation (ddof=1) over trial seeds. avg_acc: accuracy; worst_group_acc: the lowest accuracy "
    "over the label x attribute groups; balanced_acc: the mean recall over classes; worst_class_acc: the "
    "lowest recall; ece: expected calibration error (15 bins; lower is better); auroc: binary tasks only. "
    "All in %. train_attr: whether training knew the attributes (no: group methods use the classes).",
]


def table_name(dataset: str, train_attr: str) -> str:
    return f"{dataset} (train_attr {train_attr})"


def best_checkpoint(run: Run, column: str) -> Choice | None:
    """The checkpoint with the largest ``column`` (the first among equals); its ``test_acc`` is
    the test worst-group accuracy there."""
    values = run.columns.get(column)
    if not values:
        return None
    best = None
    for j, v in enumerate(values):
        if not math.isnan(v) and (best is None or v > values[best]):
            best = j
    if best is None:
        return None
    return Choice(values[best], run.columns["test_worst_group_acc"][best], run, best)


def build_subpopulation_boards(runs: list[Run], algorithms: list[str], datasets: list[str],
                               selections: list[SubpopulationSelection], baseline: str | None = "ERM"
                               ) -> list[MetricLeaderboard]:
    settings = sorted({(run.dataset, run.args.get("train_attr") or "yes") for run in runs},
                      key=lambda pair: (datasets.index(pair[0]), pair[1] != "yes"))
    return [_board(runs, algorithms, settings, selection, baseline if baseline in algorithms else None)
            for selection in selections]


def _board(runs, algorithms, settings, selection: SubpopulationSelection, baseline) -> MetricLeaderboard:
    chosen: dict[tuple, Choice] = {}  # (dataset, train_attr, algorithm, trial_seed) -> the best run's choice
    for run in sorted(runs, key=lambda r: r.hparams_seed):
        choice = best_checkpoint(run, selection.column)
        key = (run.dataset, run.args.get("train_attr") or "yes", run.algorithm, run.trial_seed)
        if choice is not None and (key not in chosen or choice.val_acc > chosen[key].val_acc):
            chosen[key] = choice
    board = MetricLeaderboard(algorithms, {}, [], baseline, selection.key, selection.name, list(NOTES))
    for dataset, train_attr in settings:
        name = table_name(dataset, train_attr)
        picks = {a: sorted((c for (d, t, a2, _), c in chosen.items() if (d, t, a2) == (dataset, train_attr, a)),
                           key=lambda c: c.run.trial_seed) for a in algorithms}
        columns = [(SPLIT, m) for m in METRICS
                   if any(f"{SPLIT}_{m}" in c.run.columns for cs in picks.values() for c in cs)]
        table = MetricTable(name, selection.column, columns, {}, {}, [m in DECREASING for _, m in columns])
        by_trial: dict[str, list[dict[int, float]]] = {}  # algorithm -> per column {trial_seed: value}
        for algorithm in algorithms:
            table.cells[algorithm] = [None] * len(columns)
            by_trial[algorithm] = [{} for _ in columns]
            if picks[algorithm]:
                table.selected[algorithm] = picks[algorithm][0].run.hparams_seed
            for choice in picks[algorithm]:
                board.choices[(choice.run.trial_seed, name, algorithm, None)] = choice
            for c, (split, metric) in enumerate(columns):
                key = f"{split}_{metric}"
                found = {ch.run.trial_seed: ch.run.columns[key][ch.index] for ch in picks[algorithm]
                         if key in ch.run.columns}
                by_trial[algorithm][c] = found
                table.cells[algorithm][c] = Spread(tuple(found.values()), metric_scale(metric)) if found else None
        if baseline is not None:
            for algorithm in algorithms:
                if algorithm != baseline:  # paired by trial seed
                    table.comparisons[algorithm] = [
                        compare(mine, base, metric_scale(metric)) for mine, base, (_, metric)
                        in zip(by_trial[algorithm], by_trial[baseline], columns)]
        board.tables.append(table)
    return board


def group_accuracies(board: MetricLeaderboard, index: int) -> dict[str, dict[str, list[float]]]:
    """Per algorithm, each test group's accuracy (``acc_y{y}_a{a}``) at the chosen checkpoints
    of ``board.tables[index]``, over trial seeds: what the per-group bars draw."""
    name = board.tables[index].dataset
    found: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for (_, table, algorithm, _), choice in sorted(board.choices.items(), key=lambda item: item[0][0]):
        if table != name:
            continue
        for key, values in choice.run.columns.items():
            if key.startswith(f"{SPLIT}_acc_y"):
                found[algorithm][key[len(SPLIT) + 1:]].append(values[choice.index])
    return found
