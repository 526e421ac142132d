"""A LaTeX document of booktabs tables, as DomainBed's ``collect_results --latex`` lays them out."""
from __future__ import annotations

from rgd_bench.report.build import Report
from rgd_bench.report.formats.grid import Grid, Style, all_footnotes, report_sections, summary_lines

_SPECIAL = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#", "_": "\\_",
            "{": "\\{", "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}"}
STYLE = Style(plus_minus="$\\pm$", mark="$^{*}$")


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _cell(text: str) -> str:
    """Escape a cell, leaving the style's own math (\\pm, the mark) intact."""
    parts = text.replace(STYLE.plus_minus, "\0pm\0").replace(STYLE.mark, "\0mark\0").split("\0")
    math = {"pm": STYLE.plus_minus, "mark": STYLE.mark}
    return "".join(math.get(p, escape(p)) if i % 2 else escape(p) for i, p in enumerate(parts))


def render_grid(grid: Grid) -> list[str]:
    def cell(r: int, c: int, text: str) -> str:
        return f"\\textbf{{{_cell(text)}}}" if (r, c) in grid.best else _cell(text)

    lines = ["\\begin{center}", "\\adjustbox{max width=\\textwidth}{%",
             "\\begin{tabular}{l" + "c" * (len(grid.header) - 1) + "}", "\\toprule",
             " & ".join(f"\\textbf{{{escape(h)}}}" for h in grid.header) + " \\\\", "\\midrule"]
    lines += [" & ".join(cell(r, c, v) for c, v in enumerate(row)) + " \\\\" for r, row in enumerate(grid.rows)]
    return lines + ["\\bottomrule", "\\end{tabular}}", "\\end{center}"]


def render(report: Report) -> str:
    lines = ["\\documentclass{article}", "\\usepackage{booktabs}", "\\usepackage{adjustbox}",
             "\\begin{document}", "\\section{Out-of-domain leaderboard}"]
    lines += [f"% {line}" for line in summary_lines(report)]
    sections = report_sections(report, STYLE)
    for section in sections:
        lines += ["", f"\\subsection{{Model selection: {escape(section.title)}}}"]
        for grid in section.grids:
            lines += ["", f"\\subsubsection{{{escape(grid.title.split(',')[0])}}}"] + render_grid(grid)
    lines += ["", "\\begin{itemize}"] + [f"\\item {_cell(note)}" for note in all_footnotes(sections)]
    lines.append("\\end{itemize}")
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"
