"""A LaTeX document of booktabs tables, as DomainBed's ``collect_results --latex`` lays them out.

Text from the data goes through ``escape.latex`` (cells, headings, notes) or
``escape.latex_comment`` (the summary lines, kept out of the typeset page).
"""
from __future__ import annotations

import re

from rgd_bench.report.build import Report
from rgd_bench.report.formats.escape import latex as escape, latex_comment
from rgd_bench.report.formats.grid import Grid, Style, all_footnotes, report_sections, summary_lines

STYLE = Style(plus_minus="$\\pm$", mark="$^{*}$")
_STYLE_MATH = re.compile(f"({re.escape(STYLE.plus_minus)}|{re.escape(STYLE.mark)})")


def _styled(text: str) -> str:
    """Escape a value cell or a note, keeping the style's own math (``$\\pm$``, the mark):
    those two fixed strings pass as they are, everything around them is escaped."""
    return "".join(part if i % 2 else escape(part) for i, part in enumerate(_STYLE_MATH.split(text)))


def render_grid(grid: Grid) -> list[str]:
    def cell(r: int, c: int, text: str) -> str:
        body = _styled(text) if c else escape(text)  # column 0: the algorithm's name, no style
        return f"\\textbf{{{body}}}" if (r, c) in grid.best else body

    lines = ["\\begin{center}", "\\adjustbox{max width=\\textwidth}{%",
             "\\begin{tabular}{l" + "c" * (len(grid.header) - 1) + "}", "\\toprule",
             " & ".join(f"\\textbf{{{escape(h)}}}" for h in grid.header) + " \\\\", "\\midrule"]
    lines += [" & ".join(cell(r, c, v) for c, v in enumerate(row)) + " \\\\" for r, row in enumerate(grid.rows)]
    return lines + ["\\bottomrule", "\\end{tabular}}", "\\end{center}"]


def render(report: Report) -> str:
    lines = ["\\documentclass{article}", "\\usepackage{booktabs}", "\\usepackage{adjustbox}",
             "\\begin{document}", "\\section{Out-of-domain leaderboard}"]
    lines += [latex_comment(line) for line in summary_lines(report)]
    sections = report_sections(report, STYLE)
    for section in sections:
        lines += ["", f"\\subsection{{Model selection: {escape(section.title)}}}"]
        for grid in section.grids:
            # The dataset part of the title, whole even when the dataset's name holds a comma.
            heading = grid.title.rsplit(", model selection method: ", 1)[0]
            lines += ["", f"\\subsubsection{{{escape(heading)}}}"] + render_grid(grid)
    lines += ["", "\\begin{itemize}"] + [f"\\item {_styled(note)}" for note in all_footnotes(sections)]
    lines.append("\\end{itemize}")
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"
