"""The tables of a report as grids of strings, shared by the text, Markdown, LaTeX and HTML formats.

Each format only says how to write "+/-" and the significance mark, and how to draw a grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rgd_bench.report.build import Report
from rgd_bench.report.leaderboard import SIGNIFICANCE_LEVEL, Cell, Leaderboard
from rgd_bench.report.stats import PairedTest
from rgd_bench.report.metric_tables import MetricLeaderboard, Spread


@dataclass(frozen=True)
class Style:
    plus_minus: str = "+/-"
    mark: str = "*"          # appended to a value significantly different from the baseline
    # A cell of one trial has no error bar: it says so instead of "+/- 0.0" (None: print
    # "+/- 0.0" as DomainBed does, for its exact text).
    single_trial: str | None = "(n=1)"


@dataclass
class Grid:
    title: str
    header: list[str]
    rows: list[list[str]]
    best: set[tuple[int, int]] = field(default_factory=set)  # (row, column) of each column's best


@dataclass
class Section:
    """One selection method: its grids and the footnotes they need."""

    title: str
    grids: list[Grid]
    footnotes: list[str]


def cell_text(cell: Cell | Spread | None, style: Style) -> str:
    """A cell over trial seeds (DomainBed's standard error or WILDS's std over replicates)."""
    if cell is None:
        return "X"
    if len(cell.values) == 1:
        if style.single_trial is not None:
            return f"{cell.mean:.1f} {style.single_trial}"
        return f"{cell.mean:.1f} {style.plus_minus} 0.0"  # as DomainBed prints one trial
    return f"{cell.mean:.1f} {style.plus_minus} {cell.error:.1f}"


def _single_trial(cell: Cell | Spread | None) -> bool:
    return cell is not None and len(cell.values) == 1


def mark(comparison: PairedTest | None, style: Style) -> str:
    """The style's mark when the comparison with the baseline is significant, else ""."""
    return style.mark if comparison is not None and comparison.significant(SIGNIFICANCE_LEVEL) else ""


def value_text(value: float | None, comparison: PairedTest | None = None, style: Style = Style()) -> str:
    if value is None:
        return "X"
    return f"{value:.1f}{mark(comparison, style)}"


def _best(rows_means: list[list[float | None]]) -> set[tuple[int, int]]:
    best = set()
    for col in range(len(rows_means[0]) if rows_means else 0):
        column = [row[col] for row in rows_means]
        present = [v for v in column if v is not None]
        if len(present) > 1:
            top = round(max(present), 1)
            best |= {(r, col) for r, v in enumerate(column) if v is not None and round(v, 1) == top}
    return best


def board_section(board: Leaderboard, style: Style) -> Section:
    grids = []
    has_x = has_single = False
    for table in board.tables:
        rows, means = [], []
        for algorithm in board.algorithms:
            cells = table.cells[algorithm]
            has_x |= None in cells
            has_single |= any(map(_single_trial, cells + board.averages.cells[algorithm]))
            comparison = table.comparisons.get(algorithm)
            rows.append([algorithm, *(cell_text(c, style) for c in cells),
                         value_text(table.average(algorithm), comparison, style),
                         value_text(table.worst(algorithm), style=style)])
            means.append([c.mean if c else None for c in cells]
                         + [table.average(algorithm), table.worst(algorithm)])
        grids.append(Grid(f"Dataset: {table.dataset}, model selection method: {board.method.name}",
                          ["Algorithm", *table.environments, "Avg", "Worst"], rows,
                          {(r, c + 1) for r, c in _best(means)}))
    averages = board.averages
    rows, means = [], []
    for algorithm in board.algorithms:
        comparison = averages.comparisons.get(algorithm)
        cells = averages.cells[algorithm]
        texts = []
        for dataset_index, cell in enumerate(cells):
            table_comparison = board.tables[dataset_index].comparisons.get(algorithm)
            texts.append(cell_text(cell, style) + (mark(table_comparison, style) if cell else ""))
        rows.append([algorithm, *texts, value_text(averages.average(algorithm), comparison, style)])
        means.append([c.mean if c else None for c in cells] + [averages.average(algorithm)])
    grids.append(Grid(f"Averages, model selection method: {board.method.name}",
                      ["Algorithm", *averages.datasets, "Avg"], rows, {(r, c + 1) for r, c in _best(means)}))
    return Section(board.method.name, grids, footnotes(board, has_x, has_single, style))


def footnotes(board: Leaderboard, has_x: bool, has_single: bool, style: Style) -> list[str]:
    notes = [f"Test-domain accuracy (%), mean {style.plus_minus} standard error over trial seeds as in "
             "DomainBed: 100 * std(acc) / sqrt(n), with the population std (ddof=0). "
             "Avg: mean of the environment columns; Worst: the lowest of them."]
    if has_single and style.single_trial is not None:
        notes.append(single_trial_note(style))
    if has_x:
        notes.append("X: " + board.method.missing)
    if board.baseline is not None and len(board.algorithms) > 1:
        notes.append(comparison_note(board.baseline, "trial seeds x test environments of the selected accuracies",
                                     style))
    return notes


def single_trial_note(style: Style) -> str:
    return (f"{style.single_trial}: a single trial seed, so no error bar; run more trials "
            "(--n_trials) to get one.")


def comparison_note(baseline: str, pairs: str, style: Style) -> str:
    return f"{style.mark}: differs from {baseline} at the 95% level (two-sided paired t-test over {pairs})."


def metric_section(board: MetricLeaderboard, style: Style) -> Section:
    """Per table: algorithms x (split, metric), each column's best bold (the lowest for a
    decreasing metric), marks from the paired tests against the baseline, as DomainBed's."""
    grids = []
    has_x = has_single = False
    for table in board.tables:
        rows, means = [], []
        for algorithm in board.algorithms:
            cells = table.cells[algorithm]
            comparisons = table.comparisons.get(algorithm) or [None] * len(cells)
            has_x |= None in cells
            has_single |= any(map(_single_trial, cells))
            rows.append([algorithm, *(cell_text(c, style) + (mark(t, style) if c else "")
                                      for c, t in zip(cells, comparisons))])
            means.append([None if c is None else -c.mean if down else c.mean
                          for c, down in zip(cells, table.decreasing)])
        grids.append(Grid(f"Dataset: {table.dataset}, model selection method: {board.name} ({table.val_metric})",
                          ["Algorithm", *(f"{split} {metric}" for split, metric in table.columns)], rows,
                          {(r, c + 1) for r, c in _best(means)}))
    notes = [note.replace("+/-", style.plus_minus) for note in board.notes]
    if has_single and style.single_trial is not None:
        notes.append(single_trial_note(style))
    if has_x:
        notes.append("X: no finished run of this algorithm recorded this metric.")
    if board.baseline is not None and len(board.algorithms) > 1:
        notes.append(comparison_note(board.baseline, "replicates (trial seeds) of the selected values, per column",
                                     style))
    return Section(board.name, grids, notes)


def report_sections(report: Report, style: Style) -> list[Section]:
    return [board_section(board, style) for board in report.boards] + [
        metric_section(board, style) for board in report.metric_boards]


def all_footnotes(sections: list[Section]) -> list[str]:
    """The sections' footnotes, each once, in order."""
    return list(dict.fromkeys(note for section in sections for note in section.footnotes))


def summary_lines(report: Report) -> list[str]:
    sweep = report.sweep
    lines = [f"Total records: {sweep.n_records} from {len(sweep.runs)} runs in {', '.join(report.inputs)}"]
    return lines + sweep.notes()
