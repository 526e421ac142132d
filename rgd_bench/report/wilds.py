"""WILDS-style model selection and tables, for runs trained under the WILDS protocol.

Record contract: each checkpoint record of a WILDS run carries ``val_metric`` (the dataset's
official validation metric, e.g. ``"acc_wg"``), optionally ``val_metric_decreasing``, and the
dataset's ``eval()`` results flattened as ``{split}_{metric}`` for the splits ``val``,
``test`` and, where the dataset has them, ``id_val`` and ``id_test``.

Selection follows WILDS's ``run_expt`` and ``evaluate.py``: each run keeps the checkpoint
with the best official validation metric (early stopping; the first among equals);
hyperparameters are chosen per (dataset, algorithm) by the mean of that value over
replicates (trial seeds); the table shows the chosen checkpoints' test metrics as
mean +/- standard deviation over replicates with ddof=1, as WILDS's leaderboard.  Its columns
are the dataset's official metrics, then worst-group accuracy where WILDS's are others.  As
DomainBed's tables, each algorithm is compared with the baseline by a paired t-test, here
over replicates, per column.
"""
from __future__ import annotations

import collections
import math

from rgd_bench.report.leaderboard import compare
from rgd_bench.report.metric_tables import MetricLeaderboard, MetricTable, Spread, metric_scale
from rgd_bench.report.records import Run
from rgd_bench.report.selection import Choice
from rgd_bench.report.stats import np_mean

KEY = "wilds"
NAME = "WILDS official validation metric"
# The metrics WILDS's evaluate.py reports per dataset; other datasets show the official
# validation metric and acc_avg.
OFFICIAL_METRICS = {
    "amazon": ["10th_percentile_acc", "acc_avg"], "camelyon17": ["acc_avg"],
    "civilcomments": ["acc_wg", "acc_avg"], "fmow": ["acc_worst_region", "acc_avg"],
    "iwildcam": ["F1-macro_all", "acc_avg"], "ogb-molpcba": ["ap"], "poverty": ["r_wg", "r_all"],
    "py150": ["acc", "Acc (Overall)"], "globalwheat": ["detection_acc_avg_dom"], "rxrx1": ["acc_avg"],
}
SPLITS = ("test", "id_test")
WORST_GROUP = "acc_wg"  # the lowest accuracy over the grouper's groups, in every standard WILDS eval
NOTES = [f"{NAME}: test metrics at each run's checkpoint with the best official validation metric, "
         "hyperparameters by its mean over replicates; mean +/- standard deviation (ddof=1) over replicates, "
         "as WILDS's evaluate.py. Accuracies in %."]
WORST_GROUP_NOTE = (f"{WORST_GROUP}: worst-group accuracy, the lowest accuracy over the dataset's evaluation "
                    "groups (WILDS's eval()).")


def early_stopping_choice(run: Run) -> Choice | None:
    """The checkpoint with the best official validation metric."""
    values = run.columns.get(f"val_{run.val_metric}")
    if not values:
        return None
    sign = -1.0 if run.val_metric_decreasing else 1.0
    best = None
    for j, v in enumerate(values):
        if not math.isnan(v) and (best is None or sign * v > sign * values[best]):
            best = j
    return None if best is None else Choice(values[best], math.nan, run, best)


def report_columns(dataset: str, runs: list[Run]) -> list[tuple[str, str]]:
    """(split, metric) of the table: the official metrics (or the validation metric and
    acc_avg), then worst-group accuracy, on each test split the runs recorded."""
    official = OFFICIAL_METRICS.get(dataset) or [runs[0].val_metric, "acc_avg"]
    metrics = list(dict.fromkeys([*official, WORST_GROUP]))
    return [(split, m) for split in SPLITS for m in metrics
            if any(f"{split}_{m}" in run.columns for run in runs)]


def build_wilds_leaderboard(runs: list[Run], algorithms: list[str], datasets: list[str],
                            baseline: str | None = "ERM") -> MetricLeaderboard:
    by_config: dict[tuple, list[Choice]] = collections.defaultdict(list)
    for run in runs:
        choice = early_stopping_choice(run)
        if choice is not None:
            by_config[(run.dataset, run.algorithm, run.hparams_seed)].append(choice)
    board = MetricLeaderboard(algorithms, {}, [], baseline if baseline in algorithms else None, KEY, NAME, list(NOTES))
    for dataset in datasets:
        dataset_runs = [r for r in runs if r.dataset == dataset]
        if not dataset_runs:
            continue
        first = dataset_runs[0]
        columns = report_columns(dataset, dataset_runs)
        table = MetricTable(dataset, first.val_metric, columns, {}, {},
                           [first.val_metric_decreasing and m == first.val_metric for _, m in columns])
        by_trial: dict[str, list[dict[int, float]]] = {}  # algorithm -> per column {trial_seed: value}
        for algorithm in algorithms:
            chosen = _best_hparams(by_config, dataset, algorithm)
            table.cells[algorithm] = [None] * len(columns)
            by_trial[algorithm] = [{} for _ in columns]
            if chosen is None:
                continue
            table.selected[algorithm] = chosen[0].run.hparams_seed
            for choice in chosen:
                board.choices[(choice.run.trial_seed, dataset, algorithm, None)] = choice
            for c, (split, metric) in enumerate(columns):
                found = [(ch.run.trial_seed, ch.run.columns[f"{split}_{metric}"][ch.index])
                         for ch in chosen if f"{split}_{metric}" in ch.run.columns]
                by_trial[algorithm][c] = dict(found)
                table.cells[algorithm][c] = Spread(tuple(v for _, v in found), metric_scale(metric)) if found else None
        if board.baseline is not None:
            for algorithm in algorithms:
                if algorithm != board.baseline:  # paired by replicate (trial seed)
                    table.comparisons[algorithm] = [
                        compare(mine, base, metric_scale(metric)) for mine, base, (_, metric)
                        in zip(by_trial[algorithm], by_trial[board.baseline], columns)]
        board.tables.append(table)
    if any(metric == WORST_GROUP for table in board.tables for _, metric in table.columns):
        board.notes.append(WORST_GROUP_NOTE)
    return board


def _best_hparams(by_config, dataset: str, algorithm: str) -> list[Choice] | None:
    """The replicates' choices of the hparams_seed with the best mean validation metric."""
    best, best_value = None, None
    for (d, a, seed), chosen in sorted(by_config.items(), key=lambda item: item[0][2]):
        if (d, a) != (dataset, algorithm):
            continue
        sign = -1.0 if chosen[0].run.val_metric_decreasing else 1.0
        value = sign * np_mean([c.val_acc for c in chosen])
        if best_value is None or value > best_value:
            best, best_value = sorted(chosen, key=lambda c: c.run.trial_seed), value
    return best
