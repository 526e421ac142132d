"""Plain-text tables for a terminal: DomainBed's layout, with Worst, marks and footnotes."""
from __future__ import annotations

from rgd_bench.report.build import Report
from rgd_bench.report.formats.grid import Grid, Style, all_footnotes, report_sections, summary_lines


def render_grid(grid: Grid) -> list[str]:
    table = [grid.header, *grid.rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(grid.header))]
    return [f"-------- {grid.title}"] + ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
                                         for row in table]


def render(report: Report) -> str:
    lines = summary_lines(report)
    sections = report_sections(report, Style(plus_minus="+/-"))
    for section in sections:
        for grid in section.grids:
            lines += [""] + render_grid(grid)
    lines += [""] + all_footnotes(sections)
    return "\n".join(lines) + "\n"
