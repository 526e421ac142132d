"""Plain-text tables for a terminal: DomainBed's layout, with Worst, marks and footnotes.

Every text goes through ``escape.terminal`` before the column widths are measured, so a
name's control characters show as escapes (``\\x1b``, ``\\n``) and cannot break the layout.
"""
from __future__ import annotations

from rgd_bench.report.build import Report
from rgd_bench.report.formats.escape import terminal as escape
from rgd_bench.report.formats.grid import Grid, Style, all_footnotes, report_sections, summary_lines


def render_grid(grid: Grid) -> list[str]:
    table = [[escape(v) for v in row] for row in [grid.header, *grid.rows]]
    widths = [max(len(row[c]) for row in table) for c in range(len(grid.header))]
    return [f"-------- {escape(grid.title)}"] + ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
                                                 for row in table]


def render(report: Report) -> str:
    lines = [escape(line) for line in summary_lines(report)]
    sections = report_sections(report, Style(plus_minus="+/-"))
    for section in sections:
        for grid in section.grids:
            lines += [""] + render_grid(grid)
    lines += [""] + [escape(note) for note in all_footnotes(sections)]
    return "\n".join(lines) + "\n"
