"""One self-contained HTML page: the leaderboards as tables, with their plots inline.

Everything is in the one file (inline CSS and SVG, no script, no font or image to fetch),
so the page can be mailed, archived or opened offline.  The tables come from grid.py like
every other format's; the figures from plots.py, which needs matplotlib.  Every text, in
elements and in attribute values, goes through ``escape.html`` (``html.escape`` after
``escape.visible``); only the figures' SVG, which matplotlib writes with its own XML
escaping of ``< > &``, is embedded as it is.
"""
from __future__ import annotations

from rgd_bench.report import plots
from rgd_bench.report.build import Report
from rgd_bench.report.formats.escape import html as escape
from rgd_bench.report.formats.grid import Grid, Section, Style, all_footnotes, report_sections, summary_lines
from rgd_bench.report.subpopulation import SELECTION_KEYS as SUBPOPULATION_KEYS, group_accuracies

TITLE = "Out-of-domain leaderboard"
STYLE = Style(plus_minus="±", mark="*")
# Why a WILDS dataset has no figure: its runs' records hold no test metric (the schema
# guarantees the validation one, so every run has a checkpoint to choose).
NO_METRIC = "no selected run recorded a test metric (test_... or id_test_... keys)."
CSS = """
body { margin: 0; color: #1d1d1f; background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin-bottom: .4rem; }
h2 { font-size: 1.3rem; margin-top: 2.6rem; padding-bottom: .2rem; border-bottom: 1px solid #d0d0d5; }
h3 { font-size: 1.05rem; margin: 1.8rem 0 .5rem; }
.summary, figcaption, .empty { color: #55555a; }
.summary { padding-left: 1.2rem; }
nav ul { margin: .3rem 0; padding-left: 1.2rem; }
a { color: #0b57d0; }
.table { overflow-x: auto; }
table { border-collapse: collapse; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .7rem; text-align: right; white-space: nowrap; }
th:first-child { text-align: left; }
thead th { border-bottom: 2px solid #444; }
tbody tr:nth-child(even) { background: #f5f6f8; }
tbody tr:last-child > * { border-bottom: 1px solid #444; }
td.x { color: #a0a0a5; }
figure { margin: 1rem 0 1.5rem; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .85rem; max-width: 52rem; margin-top: .3rem; }
"""


def render_grid(grid: Grid) -> str:
    """A table: header row, one row per algorithm headed by its name, each column's best bold."""
    def cell(r: int, c: int, text: str) -> str:
        body = f"<strong>{escape(text)}</strong>" if (r, c) in grid.best else escape(text)
        if c == 0:
            return f'<th scope="row">{body}</th>'
        return '<td class="x">X</td>' if text == "X" else f"<td>{body}</td>"

    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in grid.header)
    rows = "\n".join("<tr>" + "".join(cell(r, c, v) for c, v in enumerate(row)) + "</tr>"
                     for r, row in enumerate(grid.rows))
    return (f'<div class="table"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n'
            "</table></div>")


def render_plot(plot: plots.Plot) -> str:
    return f"<figure>\n{plot.svg}\n<figcaption>{escape(plot.caption)}</figcaption>\n</figure>"


def _figure(plot: plots.Plot | None, otherwise: str) -> str:
    """The figure, or a sentence saying why there is none (never an empty axis)."""
    return render_plot(plot) if plot is not None else f'<p class="empty">{escape(otherwise)}</p>'


def _heading(grid: Grid) -> str:
    return grid.title.rsplit(", model selection method: ", 1)[0]  # whole if the name holds a comma


def _selection_sections(report: Report, sections: list[Section], colors: dict[str, str]) -> list[str]:
    """Per selection method: each dataset's table and bars, then the averages table; then
    WILDS's method: each table and its bars; the subpopulation protocol's: each table, worst-group
    against average accuracy and per-group bars."""
    parts = []
    for board, section in zip(report.boards, sections):
        parts.append(f'<section id="{escape(board.method.key)}">\n'
                     f"<h2>Model selection: {escape(section.title)}</h2>")
        for index, grid in enumerate(section.grids):
            parts += [f"<h3>{escape(_heading(grid))}</h3>", render_grid(grid)]
            if index < len(board.tables):
                parts.append(_figure(plots.bars_plot(board, index, colors),
                                     f"No bars for {board.tables[index].dataset}: {board.method.missing}"))
        parts.append("</section>")
    for board, section in zip(report.metric_boards, sections[len(report.boards):]):
        parts.append(f'<section id="{escape(board.key)}">\n<h2>Model selection: {escape(section.title)}</h2>')
        for index, grid in enumerate(section.grids):
            dataset = board.tables[index].dataset
            parts += [f"<h3>{escape(_heading(grid))}</h3>", render_grid(grid)]
            if board.key in SUBPOPULATION_KEYS:  # the table's metrics are its bars; these read across them
                parts += [_figure(plots.tradeoff_plot(board, index, colors), f"No trade-off for {dataset}: {NO_METRIC}"),
                          _figure(plots.group_bars_plot(board, index, group_accuracies(board, index), colors),
                                  f"No per-group bars for {dataset}: no selected run recorded group accuracies.")]
            else:
                parts.append(_figure(plots.metric_bars_plot(board, index, colors), f"No bars for {dataset}: {NO_METRIC}"))
        parts.append("</section>")
    return parts


def _curve_section(report: Report, colors: dict[str, str]) -> list[str]:
    """Per dataset, how the chosen runs learned: DomainBed's first method's (one method keeps
    it short), WILDS's."""
    parts = ['<section id="curves">', "<h2>Test accuracy during training</h2>"]
    for board in report.boards[:1]:
        for index, table in enumerate(board.tables):
            parts += [f"<h3>Dataset: {escape(table.dataset)}</h3>",
                      _figure(plots.curves_plot(board, index, colors),
                              f"No curves for {table.dataset}: {board.method.missing}")]
    if report.wilds is not None:
        for index, table in enumerate(report.wilds.tables):
            parts += [f"<h3>Dataset: {escape(table.dataset)}</h3>",
                      _figure(plots.wilds_curves_plot(report.wilds, index, colors),
                              f"No curves for {table.dataset}: {NO_METRIC}")]
    return parts + ["</section>"]


def _sensitivity_section(report: Report, colors: dict[str, str]) -> list[str]:
    """Per dataset and algorithm, a test result against each hyperparameter that varied."""
    parts = ['<section id="sensitivity">', "<h2>Sensitivity to hyperparameters</h2>"]
    found = [(table.dataset, plots.sensitivity_plots(report.sweep.runs, table.dataset, colors, table.environments))
             for board in report.boards[:1] for table in board.tables]
    if report.wilds is not None:
        found += [(table.dataset, plots.wilds_sensitivity_plots(report.sweep.runs, table, colors))
                  for table in report.wilds.tables]
    for dataset, figures in found:
        if figures:
            parts.append(f"<h3>Dataset: {escape(dataset)}</h3>")
            parts += [render_plot(plot) for plot in figures]
    if len(parts) == 2:
        parts.append('<p class="empty">No algorithm has a hyperparameter that varies across its runs.</p>')
    return parts + ["</section>"]


def render(report: Report) -> str:
    """The page: summary, contents, a section per selection method, notes, then the plots
    that read across methods.  Raises ImportError (naming the extra) without matplotlib."""
    sections = report_sections(report, STYLE)
    colors = plots.algorithm_colors(report.algorithms)
    contents = [(board.method.key, f"Model selection: {board.method.name}") for board in report.boards]
    contents += [(board.key, f"Model selection: {board.name}") for board in report.metric_boards]
    contents += [("notes", "Notes")]
    if report.has_tables:
        contents += [("curves", "Test accuracy during training"), ("sensitivity", "Sensitivity to hyperparameters")]
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{TITLE}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>",
             f"<h1>{TITLE}</h1>", '<ul class="summary">']
    parts += [f"<li>{escape(line)}</li>" for line in summary_lines(report)]
    parts += ["</ul>", "<nav><ul>"]
    parts += [f'<li><a href="#{escape(anchor)}">{escape(text)}</a></li>' for anchor, text in contents]
    parts += ["</ul></nav>"]
    parts += _selection_sections(report, sections, colors)
    parts += ['<section id="notes">', "<h2>Notes</h2>", "<ul>"]
    parts += [f"<li>{escape(note)}</li>" for note in all_footnotes(sections)]
    parts += ["</ul>", "</section>"]
    if report.has_tables:
        parts += _curve_section(report, colors) + _sensitivity_section(report, colors)
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
