"""Sweep directories in, one ``Report`` out: loaded runs plus a leaderboard per selection method.

Runs trained under DomainBed's protocol (per-environment accuracies) go to DomainBed's
selection methods; runs trained under WILDS's protocol (records with ``val_metric``) go to
the WILDS method; runs of the subpopulation protocol to its four methods (``subpopulation``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from rgd_bench.report.leaderboard import Leaderboard, build_leaderboards, order_algorithms, order_datasets
from rgd_bench.report.records import LoadedSweep, load_sweeps
from rgd_bench.report.selection import SelectionMethod
from rgd_bench.report.subpopulation import SELECTIONS, SubpopulationSelection, build_subpopulation_boards
from rgd_bench.report.wilds import MetricLeaderboard, build_wilds_leaderboard


@dataclass
class Report:
    inputs: list[str]
    sweep: LoadedSweep
    boards: list[Leaderboard]
    wilds: MetricLeaderboard | None = None
    algorithms: list[str] = field(default_factory=list)  # every algorithm of the report, in row order
    subpopulation: list[MetricLeaderboard] = field(default_factory=list)  # one per selection method

    @property
    def metric_boards(self) -> list[MetricLeaderboard]:
        """The boards of (split, metric) tables: WILDS's, then the subpopulation protocol's."""
        return ([] if self.wilds is None else [self.wilds]) + self.subpopulation

    @property
    def has_tables(self) -> bool:
        return bool(self.boards) or bool(self.metric_boards)


def make_report(paths: Sequence[str], methods: list[type[SelectionMethod]], baseline: str | None = "ERM",
                include_unfinished: bool = False, wilds: bool = True, workers: int = 1,
                on_found: Callable[[int], None] | None = None,
                subpopulation: Sequence[SubpopulationSelection] = SELECTIONS) -> Report:
    sweep = load_sweeps(paths, include_unfinished, workers, on_found)
    domainbed_runs = [run for run in sweep.runs if run.val_metric is None and not run.subpopulation]
    wilds_runs = [run for run in sweep.runs if run.val_metric is not None]
    subpopulation_runs = [run for run in sweep.runs if run.subpopulation]
    boards = build_leaderboards(domainbed_runs, methods, baseline) if domainbed_runs else []
    wilds_board = None
    if wilds and wilds_runs:
        wilds_board = build_wilds_leaderboard(wilds_runs, order_algorithms(wilds_runs), order_datasets(wilds_runs),
                                              baseline)
    subpopulation_boards = []
    if subpopulation and subpopulation_runs:
        subpopulation_boards = build_subpopulation_boards(
            subpopulation_runs, order_algorithms(subpopulation_runs), order_datasets(subpopulation_runs),
            list(subpopulation), baseline)
    return Report(list(paths), sweep, boards, wilds_board, order_algorithms(sweep.runs), subpopulation_boards)
