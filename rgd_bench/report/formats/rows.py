"""CSV and JSON: one row per selection method x dataset x algorithm x environment.

Environments are the test environments by name (for WILDS runs, "<split> <metric>"), then
"Avg" (mean of the environment means, with the standard error of the per-trial averages,
as DomainBed's averages table) and "Worst".  Rows with dataset "Avg" are the averages table's last column.  The comparison
with the baseline (paired t-test) is on the "Avg" rows; for WILDS's and the subpopulation
protocol's tables, on every row (paired over replicates).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from rgd_bench.report.build import Report
from rgd_bench.report.leaderboard import SIGNIFICANCE_LEVEL, Cell, Leaderboard
from rgd_bench.report.stats import PairedTest
from rgd_bench.report.metric_tables import MetricLeaderboard

FIELDS = ["selection", "selection_name", "dataset", "algorithm", "environment", "test_env", "mean",
          "std_error", "std", "n_trials", "baseline", "difference_vs_baseline", "p_value", "significant", "n_pairs"]


def _row(board: Leaderboard, dataset: str, algorithm: str, environment: str, test_env: int | None,
         mean: float | None, cell: Cell | None = None, comparison: PairedTest | None = None) -> dict[str, Any]:
    row = {"selection": board.method.key, "selection_name": board.method.name, "dataset": dataset,
           "algorithm": algorithm, "environment": environment, "test_env": test_env,
           # One trial has no error bar: null, not 0.
           "mean": mean, "std_error": cell.error if cell and len(cell.values) > 1 else None, "std": None,
           "n_trials": len(cell.values) if cell else 0, "baseline": None, "difference_vs_baseline": None,
           "p_value": None, "significant": None, "n_pairs": None}
    row.update(_comparison_fields(board.baseline, comparison))
    return row


def _comparison_fields(baseline: str | None, comparison: PairedTest | None) -> dict[str, Any]:
    if comparison is None:
        return {}
    return {"baseline": baseline, "difference_vs_baseline": comparison.mean_difference, "p_value": comparison.p_value,
            "significant": comparison.significant(SIGNIFICANCE_LEVEL), "n_pairs": comparison.n_pairs}


def report_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for board in report.boards:
        for d, table in enumerate(board.tables):
            for algorithm in board.algorithms:
                for env, cell in enumerate(table.cells[algorithm]):
                    rows.append(_row(board, table.dataset, algorithm, table.environments[env], env,
                                     cell.mean if cell else None, cell))
                rows.append(_row(board, table.dataset, algorithm, "Avg", None, table.average(algorithm),
                                 board.averages.cells[algorithm][d], table.comparisons.get(algorithm)))
                rows.append(_row(board, table.dataset, algorithm, "Worst", None, table.worst(algorithm)))
        for algorithm in board.algorithms:
            rows.append(_row(board, "Avg", algorithm, "Avg", None, board.averages.average(algorithm),
                             comparison=board.averages.comparisons.get(algorithm)))
    for board in report.metric_boards:
        rows += _metric_rows(board)
    return rows


def _metric_rows(board: MetricLeaderboard) -> list[dict[str, Any]]:
    """WILDS's and the subpopulation protocol's tables: "environment" is "<split> <metric>", "std"
    the std over replicates (ddof=1)."""
    rows = []
    for table in board.tables:
        for algorithm in board.algorithms:
            comparisons = table.comparisons.get(algorithm) or [None] * len(table.columns)
            for (split, metric), spread, comparison in zip(table.columns, table.cells[algorithm], comparisons):
                row = dict.fromkeys(FIELDS)
                row.update(selection=board.key, selection_name=board.name, dataset=table.dataset,
                           algorithm=algorithm, environment=f"{split} {metric}",
                           mean=spread.mean if spread else None, std=spread.error if spread else None,
                           n_trials=len(spread.values) if spread else 0)
                row.update(_comparison_fields(board.baseline, comparison))
                rows.append(row)
    return rows


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    # A name read with a lone surrogate cannot be written as UTF-8: spell such characters out.
    return out.getvalue().encode("utf-8", "backslashreplace").decode("utf-8")


def render_json(report: Report) -> str:
    return json.dumps(report_rows(report), indent=1) + "\n"
