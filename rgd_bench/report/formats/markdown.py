"""GitHub-flavoured Markdown: one pipe table per grid, each column's best in bold."""
from __future__ import annotations

from rgd_bench.report.build import Report
from rgd_bench.report.formats.grid import Grid, Style, all_footnotes, report_sections, summary_lines


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


def render_grid(grid: Grid) -> list[str]:
    def cell(r: int, c: int, text: str) -> str:
        text = _escape(text)
        return f"**{text}**" if (r, c) in grid.best else text

    lines = ["| " + " | ".join(_escape(h) for h in grid.header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(grid.header) - 1)) + "|"]
    lines += ["| " + " | ".join(cell(r, c, v) for c, v in enumerate(row)) + " |" for r, row in enumerate(grid.rows)]
    return lines


def render(report: Report) -> str:
    lines = ["# Out-of-domain leaderboard", ""] + [f"- {line}" for line in summary_lines(report)]
    sections = report_sections(report, Style(plus_minus="±"))
    for section in sections:
        lines += ["", f"## Model selection: {section.title}"]
        for grid in section.grids:
            lines += ["", f"### {grid.title.split(',')[0]}", ""] + render_grid(grid)
    lines += ["", "## Notes", ""] + [f"- {_escape(note)}" for note in all_footnotes(sections)]
    return "\n".join(lines) + "\n"
