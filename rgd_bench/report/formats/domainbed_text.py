"""DomainBed's ``collect_results`` text, character for character (``results.txt``).

For scripts and diffs that expect DomainBed's exact output: its columns (no Worst), its row
order, its widths (names cut at 20 and 25 characters) and its trailing spaces.  Runs
trained under WILDS's protocol, which DomainBed cannot read, follow in the same layout: one
table per dataset, a column per (split, metric).
"""
from __future__ import annotations

from rgd_bench.report.build import Report
from rgd_bench.report.formats.grid import Style, cell_text, value_text
from rgd_bench.report.leaderboard import DOMAINBED_ALGORITHMS
from rgd_bench.report.records import Run


def _row(values: list[str], width: int) -> str:
    # DomainBed prints ``print("  ".join(cells), "")``: note the trailing space.
    return "  ".join(str(v).ljust(width)[:width] for v in values) + " "


def domainbed_order(algorithms: list[str], runs: list[Run]) -> list[str]:
    """DomainBed's row order: its ALGORITHMS list first, then the others in the order the
    run directories list them (DomainBed reads them in ``os.listdir`` order)."""
    known = [a for a in DOMAINBED_ALGORITHMS if a in algorithms]
    met = dict.fromkeys(run.algorithm for run in runs)
    return known + [a for a in met if a in algorithms and a not in known]


def render(report: Report) -> str:
    style = Style(single_trial=None)  # DomainBed prints +/- 0.0 for one trial
    lines = [f"Total records: {report.sweep.n_records}"]
    for board in report.boards:
        algorithms = domainbed_order(board.algorithms, report.sweep.runs)
        for table in board.tables:
            lines += ["", f"-------- Dataset: {table.dataset}, model selection method: {board.method.name}",
                      _row(["Algorithm", *table.environments, "Avg"], 20)]
            for algorithm in algorithms:
                cells = [cell_text(c, style) for c in table.cells[algorithm]]
                lines.append(_row([algorithm, *cells, value_text(table.average(algorithm))], 20))
        averages = board.averages
        lines += ["", f"-------- Averages, model selection method: {board.method.name}",
                  _row(["Algorithm", *averages.datasets, "Avg"], 25)]
        for algorithm in algorithms:
            cells = [cell_text(c, style) for c in averages.cells[algorithm]]
            lines.append(_row([algorithm, *cells, value_text(averages.average(algorithm))], 25))
    for board in report.metric_boards:
        for table in board.tables:
            lines += ["", f"-------- Dataset: {table.dataset}, model selection method: {board.name} "
                          f"({table.val_metric})",
                      _row(["Algorithm", *(f"{split} {metric}" for split, metric in table.columns)], 20)]
            for algorithm in board.algorithms:
                lines.append(_row([algorithm, *(cell_text(c, style) for c in table.cells[algorithm])], 20))
    return "\n".join(lines) + "\n"
