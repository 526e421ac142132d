"""Names from the user's data cannot become code or markup in any report format.

A sweep whose input path, run directories, dataset, algorithm, environment and
hyperparameter names are hostile (a newline followed by ``\\immediate\\write18{...}``,
``<script>``, Markdown's and LaTeX's special characters, ESC sequences) is rendered through
the public path, and each output is checked for precise properties; the escape functions
themselves are checked on any text with hypothesis.
"""
from __future__ import annotations

import html as html_module
import os
import re
import unicodedata

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from conftest import run_module
from report_runs import write_run
from rgd_bench import environments
from rgd_bench.report import SELECTION_METHODS, make_report
from rgd_bench.report.formats import escape, renderer
from rgd_bench.report.formats.grid import Style, all_footnotes, report_sections, summary_lines

INJECTION = "\n\\immediate\\write18{touch /tmp/pwned}"
# The input directory itself holds the injection (its slashes make nested directories).
SWEEP_PARTS = ("sweep" + INJECTION.split("/")[0], "tmp", "pwned}")
UNFINISHED = "unfinished\n\\immediate\\write18{touch pwned}\r\x1b[2J"
ALGORITHM = "<script>alert(1)</script>_x*y|z"
DATASET = "D$%&#_{}~^\\ 1,2"          # the comma: headings must keep the whole name
ENV_NAMES = ["e|1\n# h\x1b[2J", "<b>e2</b>_"]
HPARAM = "<i>$x$_\x1b[2J"
ALL_METHODS = list(SELECTION_METHODS.values())
CONTROL = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _controls(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in CONTROL and ch != "\n"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> str:
    path = os.path.join(str(tmp_path_factory.mktemp("hostile")), *SWEEP_PARTS)
    for trial in (0, 1):
        for env in (0, 1):
            for index, algorithm in enumerate(("ERM", ALGORITHM)):
                for hparams_seed in (0, 1):
                    acc = 0.5 + 0.2 * (algorithm == "ERM") + 0.1 * hparams_seed + 0.05 * trial
                    write_run(path, f"r{trial}{env}{index}{hparams_seed}", test_envs=[env], n_envs=2,
                              trial_seed=trial, hparams_seed=hparams_seed, dataset=DATASET, algorithm=algorithm,
                              hparams={"lr": 0.001 * (hparams_seed + 1), HPARAM: 0.1 * (hparams_seed + 1)},
                              accs=[{f"env{env}_in_acc": acc}])
    write_run(path, UNFINISHED, test_envs=[0], n_envs=2, dataset=DATASET, accs=[{}], done=False)
    return path


@pytest.fixture(scope="module")
def report(sweep):
    with pytest.MonkeyPatch.context() as patch:  # the dataset's environments get hostile names too
        patch.setitem(environments.ENVIRONMENTS, DATASET, ENV_NAMES)
        report = make_report([sweep], ALL_METHODS)
    assert report.boards[0].tables[0].environments == ENV_NAMES
    assert report.boards[0].algorithms == ["ERM", ALGORITHM]
    return report


@pytest.fixture(scope="module")
def texts(report) -> dict[str, str]:
    return {name: renderer(name)(report) for name in ("text", "markdown", "latex")}


def test_the_sweep_is_as_hostile_as_intended(report):
    lines = summary_lines(report)
    assert INJECTION in lines[0] and any(UNFINISHED in line for line in lines[1:])


# ---- LaTeX ----------------------------------------------------------------------------------

LATEX_COMMANDS = {"documentclass", "usepackage", "begin", "end", "section", "subsection", "subsubsection",
                  "adjustbox", "textwidth", "toprule", "midrule", "bottomrule", "textbf", "item", "pm",
                  "textbackslash", "textasciitilde", "textasciicircum", "textless", "textgreater", "textbar",
                  "\\", "&", "%", "$", "#", "_", "{", "}"}
LATEX_TOKEN = re.compile(r"\\([A-Za-z]+|.)")


def _latex_body(tex: str) -> list[str]:
    """The lines TeX reads (comment lines are skipped unread)."""
    return [line for line in tex.splitlines() if not line.startswith("%")]


def test_latex_uses_no_command_but_its_own(texts):
    tex = texts["latex"]
    used = {m.group(1) for line in _latex_body(tex) for m in LATEX_TOKEN.finditer(line)}
    assert used <= LATEX_COMMANDS, used - LATEX_COMMANDS
    assert "immediate" not in used and "write18" not in used
    for line in tex.splitlines():
        if "write18" in line:
            assert line.startswith("% ") or "\\textbackslash{}write18" in line, line
        assert not re.match(r"\s*\\immediate", line), line


def test_latex_specials_are_escaped_outside_comments(texts):
    body = "\n".join(_latex_body(texts["latex"]))
    # What is left once the style's math and every command and escape are removed.
    rest = LATEX_TOKEN.sub("", body.replace("$\\pm$", "").replace("$^{*}$", ""))
    assert not set(rest) & set("~^_#$"), set(rest) & set("~^_#$")
    # The only raw % is the format's own, ending the adjustbox line; braces balance.
    assert rest.count("%") == body.count("\\adjustbox")
    assert rest.count("{") == rest.count("}")
    assert "\\$\\%\\&\\#\\_\\{\\}\\textasciitilde{}\\textasciicircum{}\\textbackslash{} 1,2" in body


def test_latex_comments_hold_each_summary_line_on_one_line(report, texts):
    comments = [line for line in texts["latex"].splitlines() if line.startswith("%")]
    lines = summary_lines(report)
    assert len(comments) == len(lines)
    assert "sweep\\n\\immediate\\write18{touch /tmp/pwned}" in comments[0]
    assert "unfinished\\n\\immediate\\write18{touch pwned}\\r\\x1b[2J" in comments[1]
    assert not _controls(texts["latex"])


def test_latex_tables_keep_their_columns_and_whole_names(report, texts):
    tex = texts["latex"]
    rows = [line for line in tex.splitlines() if line.endswith(" \\\\")]
    assert rows
    for line in rows:
        columns = 1 + len(re.findall(r"(?<!\\)&", line))
        assert columns in (2 + 2 + 1, 1 + 1 + 1), line  # a dataset's table (2 envs, Avg, Worst) or the averages
    assert f"\\subsubsection{{Dataset: {escape.latex(DATASET)}}}" in tex
    assert f"\n{escape.latex(ALGORITHM)} & " in tex
    assert escape.latex(ENV_NAMES[0]) == "e\\textbar{}1\\textbackslash{}n\\# h\\textbackslash{}x1b[2J"
    assert "\\textbf{82.5 $\\pm$ 1.8}" in tex  # the format's own markup still works


# ---- Markdown --------------------------------------------------------------------------------

def _unescaped(text: str, chars: str) -> list[str]:
    """Characters of ``chars`` in ``text`` that no backslash escapes."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in chars:
            found.append(text[i])
        i += 1
    return found


def test_markdown_has_no_raw_html_and_escapes_names(texts):
    md = texts["markdown"]
    assert "<" not in md and ">" not in md and not _controls(md)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\_x\\*y\\|z" in md
    assert f"### Dataset: {escape.markdown(DATASET)}\n" in md
    assert escape.markdown(DATASET) == "D\\$%&amp;\\#\\_{}\\~^\\\\ 1,2"


def test_markdown_tables_keep_their_columns(texts):
    tables = re.findall(r"(?:^\|.*\n)+", texts["markdown"], flags=re.M)
    assert len(tables) == 2 * len(ALL_METHODS)
    for table in tables:
        lines = table.splitlines()
        pipes = {len(_unescaped(line, "|")) for line in lines}
        assert pipes == {lines[1].count("|")}, table
        assert lines[0].startswith("| Algorithm | ")
    # The format's own markup still works: ERM's cells are each column's best, in bold.
    assert re.search(r"^\| ERM \| \*\*\d+\.\d ± \d+\.\d\*\* \|", texts["markdown"], flags=re.M)


def test_markdown_list_items_stay_one_line_each(report, texts):
    items = [line for line in texts["markdown"].splitlines() if line.startswith("- ")]
    sections = report_sections(report, Style(plus_minus="±"))
    assert len(items) == len(summary_lines(report)) + len(all_footnotes(sections))
    assert "sweep\\\\n\\\\immediate\\\\write18{touch /tmp/pwned}" in items[0]
    for item in items:
        assert not _unescaped(item[2:], "`*[]|#$~"), item


# ---- terminal ----------------------------------------------------------------------------------

def test_terminal_output_holds_no_control_character(texts):
    text = texts["text"]
    assert "\x1b" not in text and "\r" not in text and not _controls(text)
    assert all(line.isprintable() for line in text.splitlines())
    assert "unfinished\\n\\immediate\\write18{touch pwned}\\r\\x1b[2J" in text


def test_terminal_columns_line_up_with_escaped_names(texts):
    lines = texts["text"].splitlines()
    header = next(line for line in lines if line.startswith("Algorithm "))
    row = next(line for line in lines if line.startswith(ALGORITHM))
    assert header.index("e|1\\n# h\\x1b[2J") == len(ALGORITHM) + 2
    assert row[len(ALGORITHM):len(ALGORITHM) + 2] == "  " and row[len(ALGORITHM) + 2].isdigit()
    assert f"-------- Dataset: {DATASET}, model selection method: " in texts["text"]


def test_command_line_text_and_latex_are_escaped(sweep):
    text = run_module("rgd_bench.report", sweep, "--format", "text", timeout=120)
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout and "\r" not in text.stdout
    assert "sweep\\n\\immediate\\write18{touch /tmp/pwned}" in text.stdout
    tex = run_module("rgd_bench.report", sweep, "--format", "latex", timeout=120)
    assert tex.returncode == 0, tex.stderr
    assert not any(re.match(r"\s*\\(immediate|write18)", line) for line in tex.stdout.splitlines())
    lines = [line for line in tex.stdout.splitlines() if "write18" in line]
    assert len(lines) == 2 and all(line.startswith("% ") for line in lines)  # the summary lines


def test_a_lone_surrogate_in_a_name_is_shown_not_fatal(tmp_path):
    # results.jsonl may spell "\ud800" (valid JSON, not valid UTF-8 once decoded): writing it
    # out as UTF-8 used to raise UnicodeEncodeError.
    for trial in (0, 1):
        for algorithm in ("ERM", "A\ud800"):
            write_run(tmp_path, f"r{trial}{algorithm[0]}", test_envs=[0], trial_seed=trial, algorithm=algorithm,
                      accs=[{}])
    report = make_report([str(tmp_path)], ALL_METHODS)
    loaded = any(run.algorithm == "A\ud800" for run in report.sweep.runs)
    for name, shown in (("text", "A\\ud800"), ("markdown", "A\\\\ud800"), ("latex", "A\\textbackslash{}ud800")):
        out = renderer(name)(report)
        out.encode("utf-8")
        assert not loaded or shown in out, name


# ---- HTML ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def page(report) -> str:
    pytest.importorskip("matplotlib")
    return renderer("html")(report)


def _outside_svg(page: str) -> str:
    return re.sub(r"<svg.*?</svg>", "", page, flags=re.S)


def test_html_escapes_every_text_and_attribute(page):
    text = _outside_svg(page)
    for raw in ("<script", "<b>", "<i>"):
        assert raw not in page, raw  # the figures' SVG included
    assert "\x1b" not in text and "\r" not in text  # the figures' SVG included
    assert not _controls(text)
    assert '<th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;_x*y|z</th>' in text
    assert f"<h3>Dataset: {html_module.escape(DATASET)}</h3>" in text
    assert '<th scope="col">e|1\\n# h\\x1b[2J</th>' in text
    for value in re.findall(r'\s(?:id|href|class|scope)="([^"]*)"', text):
        assert re.fullmatch(r"#?[a-z_]+", value), value
    assert "sweep\\n\\immediate\\write18{touch /tmp/pwned}</li>" in text


def test_html_figures_escape_names_as_xml(page):
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert svgs
    labels = [html_module.unescape(t) for svg in svgs for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert ALGORITHM in labels  # matplotlib escaped it; mathtext did not eat the '$' of the hparam
    assert any(label.startswith("<i>$x$_") for label in labels)


def test_html_figures_hold_no_control_character(page):
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        assert not _controls(svg)


# ---- the escape functions, on any text ---------------------------------------------------------

# Characters that mean something to one format or another, drawn often; then any character.
SPECIAL = list("\\&%$#_{}~^<>|`*[]()!-+=.:;'\" a1")
CONTROLS = list("\n\r\t\x00\x08\x1b\x7f\x85\x9b\u200f\u2028\u202e\ud800\U000e0001")
ANY_TEXT = st.text(st.sampled_from(SPECIAL + CONTROLS) | st.characters(exclude_categories=()))  # surrogates too
PRINTABLE = st.text(st.sampled_from(SPECIAL)
                    | st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")))


def _unlatex(text: str) -> str:
    """The text that ``escape.latex`` escaped, for printable text."""
    symbols = {"textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^", "textless": "<",
               "textgreater": ">", "textbar": "|"}
    return re.sub(r"\\([A-Za-z]+)\{\}|\\(.)", lambda m: symbols[m.group(1)] if m.group(1) else m.group(2), text)


def _unmarkdown(text: str) -> str:
    """What CommonMark shows for text made of literal characters, backslash escapes and the
    character references ``escape.markdown`` writes."""
    entities = {"amp": "&", "lt": "<", "gt": ">", "#32": " "}
    return re.sub(r"\\([!-/:-@\[-`{-~])|&(amp|lt|gt|#32);",
                  lambda m: m.group(1) if m.group(1) else entities[m.group(2)], text)


@settings(max_examples=500)
@given(ANY_TEXT)
@example("\r")
@example("a\u2028b\x85\ud800")
def test_visible_is_printable_and_keeps_printable_text(text):
    shown = escape.visible(text)
    assert shown.isprintable() and not _controls(shown) and "\n" not in shown
    assert (shown == text) == text.isprintable()
    shown.encode("utf-8")  # no lone surrogate left
    if "\\" not in text:  # then the escapes can be read back
        assert shown.encode("ascii", "backslashreplace").decode("unicode_escape") == text
    assert escape.terminal(text) == shown


@settings(max_examples=500)
@given(ANY_TEXT)
@example("\\&%$#_{}~^\n")
def test_latex_escape_leaves_no_special_character_nor_line_break(text):
    out = escape.latex(text)
    assert out.isprintable() and "\n" not in out
    rest = re.sub(r"\\(textbackslash|textasciitilde|textasciicircum|textless|textgreater|textbar)\{\}"
                  r"|\\[&%$#_{}]", "", out)  # every special character is part of an escape
    assert not set(rest) & set("\\&%$#_{}~^")
    assert {m.group(1) for m in LATEX_TOKEN.finditer(out)} <= LATEX_COMMANDS
    assert re.fullmatch(r"% [^\n\r]*", escape.latex_comment(text))


@settings(max_examples=500)
@given(PRINTABLE)
@example("<>|\\")
def test_latex_escape_reads_back(text):
    assert _unlatex(escape.latex(text)) == text


@settings(max_examples=500)
@given(ANY_TEXT)
@example("-")
@example("+ x")
@example("1. x")
@example("  code")
@example("weight_ decay_")
@example("<script>|")
def test_markdown_escape_leaves_no_html_pipe_or_line_break(text):
    out = escape.markdown(text)
    assert out.isprintable() and "\n" not in out
    assert "<" not in out and ">" not in out
    assert re.fullmatch(r"([^&]|&(amp|lt|gt|#32);)*", out)
    assert not _unescaped(re.sub(r"&(amp|lt|gt|#32);", "E", out), "|`*[]#$~")
    for m in re.finditer(r"(?<!\\)((?:\\\\)*)_", out):  # an unescaped '_' stands inside a word
        start = m.end() - 1
        assert 0 < start < len(out) - 1 and out[start - 1].isalnum() and out[start + 1].isalnum(), out
    assert not re.match(r"([-+=](?![0-9])|[0-9]+[.)]( |$)| )", out)  # no block can start


@settings(max_examples=500)
@given(PRINTABLE)
@example("&#32;-1.")
def test_markdown_escape_reads_back(text):
    assert _unmarkdown(escape.markdown(text)) == text


@settings(max_examples=500)
@given(ANY_TEXT)
@example("<a href='x\"'>&amp;")
def test_html_escape_leaves_no_markup(text):
    out = escape.html(text)
    assert not set(out) & set("<>\"'") and out.isprintable()
    assert html_module.unescape(out) == escape.visible(text)


@settings(max_examples=300)
@given(PRINTABLE, PRINTABLE)
def test_distinct_printable_names_stay_distinct(a, b):
    assume(a != b)
    for function in (escape.latex, escape.markdown, escape.terminal, escape.html):
        assert function(a) != function(b), function.__name__


@pytest.mark.parametrize("a, b", [("a_b", "a\\_b"), ("-", "\\-"), ("1.", "1\\."), (" x", "&#32;x"),
                                  ("<", "&lt;"), ("\\", "\\textbackslash{}"), ("x|y", "x\\|y")])
def test_lookalike_names_stay_distinct(a, b):
    for function in (escape.latex, escape.markdown, escape.terminal, escape.html):
        assert function(a) != function(b), function.__name__


@pytest.mark.parametrize("function, text, expected", [
    (escape.terminal, "\x1b[2Jrun\r\n", "\\x1b[2Jrun\\r\\n"),
    (escape.terminal, "\u202eevil\u2028", "\\u202eevil\\u2028"),
    (escape.terminal, "Caf\u00e9 \\ 1.0", "Caf\u00e9 \\ 1.0"),
    (escape.latex, "a\nb", "a\\textbackslash{}nb"),
    (escape.latex, "50% of $x_1^2$ & {~}", "50\\% of \\$x\\_1\\textasciicircum{}2\\$ \\& \\{\\textasciitilde{}\\}"),
    (escape.latex_comment, "path\n\\immediate", "% path\\n\\immediate"),
    (escape.markdown, "-", "\\-"),
    (escape.markdown, "- x", "\\- x"),
    (escape.markdown, "1. x", "1\\. x"),
    (escape.markdown, "12)", "12\\)"),
    (escape.markdown, "  x", "&#32;&#32;x"),
    (escape.markdown, "_a a_ a_b", "\\_a a\\_ a_b"),
    (escape.markdown, "<b>&amp;", "&lt;b&gt;&amp;amp;"),
    (escape.markdown, "a\nb|c", "a\\\\nb\\|c"),
    # Ordinary names and the formats' own numbers stay as they are.
    (escape.markdown, "weight_decay", "weight_decay"),
    (escape.markdown, "98.0 ± 0.2", "98.0 ± 0.2"),
    (escape.markdown, "-0.5 (n=1)", "-0.5 (n=1)"),
    (escape.markdown, "ERM-v2.1", "ERM-v2.1"),
    (escape.html, "<i title=\"x\">\n", "&lt;i title=&quot;x&quot;&gt;\\n"),
])
def test_escapes_of_known_cases(function, text, expected):
    assert function(text) == expected
