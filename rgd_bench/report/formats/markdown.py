"""GitHub-flavoured Markdown: one pipe table per grid, each column's best in bold.

Every text (headings, header cells, cells, summary lines, notes) goes through
``escape.markdown``; only the format's own markup (``**bold**``, the table's pipes) is raw.
"""
from __future__ import annotations

from rgd_bench.report.build import Report
from rgd_bench.report.formats.escape import markdown as escape
from rgd_bench.report.formats.grid import Grid, Style, all_footnotes, report_sections, summary_lines


def render_grid(grid: Grid) -> list[str]:
    def cell(r: int, c: int, text: str) -> str:
        text = escape(text)
        return f"**{text}**" if (r, c) in grid.best else text

    lines = ["| " + " | ".join(escape(h) for h in grid.header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(grid.header) - 1)) + "|"]
    lines += ["| " + " | ".join(cell(r, c, v) for c, v in enumerate(row)) + " |" for r, row in enumerate(grid.rows)]
    return lines


def render(report: Report) -> str:
    lines = ["# Out-of-domain leaderboard", ""] + [f"- {escape(line)}" for line in summary_lines(report)]
    sections = report_sections(report, Style(plus_minus="±"))
    for section in sections:
        lines += ["", f"## Model selection: {escape(section.title)}"]
        for grid in section.grids:
            # The dataset part of the title, whole even when the dataset's name holds a comma.
            heading = grid.title.rsplit(", model selection method: ", 1)[0]
            lines += ["", f"### {escape(heading)}", ""] + render_grid(grid)
    lines += ["", "## Notes", ""] + [f"- {escape(note)}" for note in all_footnotes(sections)]
    return "\n".join(lines) + "\n"
