"""Text from the user's data (dataset, algorithm and environment names, run-directory paths,
hyperparameter names) made safe to embed in each output format.

Every format module embeds such text only through one of these functions.  All of them
first apply ``visible``: a character that is not printable (``str.isprintable``: newline,
carriage return, tab, ESC and the other C0 and C1 controls, DEL, format characters such as
the bidirectional overrides, line and paragraph separators, lone surrogates) is written as
its Python escape, as text: ``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u202e``.  A name can then
never end a line, a comment or a table row, nor repaint a terminal, and it still shows what
was there.  Printable text (the space included) is left as it is, so a name holding a newline
and one holding a backslash followed by ``n`` look alike; two distinct printable names always
stay distinct in every format.
"""
from __future__ import annotations

import html as _html

from rgd_bench._printable import visible  # noqa: F401  (the first step of every escape here)

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN_ESCAPED = set("\\`*_[]#|$~")    # backslash-escaped wherever they stand
_MARKDOWN_LEADING = set("-+=")            # backslash-escaped at the start of the text
_DIGITS = "0123456789"


def _digit(ch: str) -> bool:
    return ch != "" and ch in _DIGITS


def terminal(text: str) -> str:
    """Text for a terminal or a plain-text file: ``visible(text)``.

    Guarantees: no control character (no ESC sequence, carriage return, backspace or line
    break can move the cursor, repaint the screen or break a table's layout); printable
    text is unchanged, so DomainBed-style tables read as before."""
    return visible(text)


def latex(text: str) -> str:
    """Text for LaTeX's text mode (a table cell, a heading, an ``\\item``).

    Guarantees: the result is printable (no line break, see ``visible``) and each of
    ``\\ & % $ # _ { } ~ ^`` (and ``< > |``, which the default OT1 font encoding would
    print as other glyphs) is written as its LaTeX escape (``\\textbackslash{}``, ``\\&``,
    ...), so nothing in ``text`` can start a command, a group, math, a comment or a
    column; every backslash in the result begins one of those escapes."""
    return "".join(_LATEX.get(ch, ch) for ch in visible(text))


def latex_comment(text: str) -> str:
    """A LaTeX comment line ``% text``, for text that is to stay out of the document.

    Guarantees: the comment ends where the line ends, and the line holds no line break
    (``visible``), so nothing in ``text`` can leave the comment; the rest is not escaped,
    as TeX skips a comment unread (paths stay readable)."""
    return "% " + visible(text)


def markdown(text: str) -> str:
    """Text for GitHub-flavoured Markdown: a table cell, a heading or a list item's text.

    Guarantees: the result is printable (no line break, see ``visible``) and renders as
    ``text`` itself: ``& < >`` are written as ``&amp; &lt; &gt;`` (no inline HTML, no
    autolink, no character reference), ``\\ ` * [ ] # | $ ~`` are backslash-escaped (no
    code span, emphasis, link, heading, table column, math or strikethrough), and so is
    ``_`` unless it stands between two letters or digits (where it cannot start or end
    emphasis, so ``weight_decay`` stays readable).  At the start of the text, where a
    list item's text could start a block, ``- + =`` are escaped unless a digit follows
    (``-0.5`` starts no list), as is the ``.`` or ``)`` that follows leading digits and
    precedes a space or the end (``1. `` would start an ordered list, ``98.0`` does not),
    and leading spaces are written as ``&#32;`` (an indented code block)."""
    text = visible(text)
    out = []
    for i, ch in enumerate(text):
        if ch in _MARKDOWN_ENTITIES:
            out.append(_MARKDOWN_ENTITIES[ch])
        elif ch == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            out.append(ch)
        elif ch in _MARKDOWN_ESCAPED or (i == 0 and ch in _MARKDOWN_LEADING and not _digit(text[1:2])):
            out.append("\\" + ch)
        else:
            out.append(ch)
    digits = len(text) - len(text.lstrip(_DIGITS))
    if 0 < digits < len(text) and text[digits] in ".)" and text[digits + 1:digits + 2] in ("", " "):
        out[digits] = "\\" + text[digits]
    spaces = len(text) - len(text.lstrip(" "))
    out[:spaces] = ["&#32;"] * spaces
    return "".join(out)


def html(text: str) -> str:
    """Text for HTML, in an element or in a quoted attribute value: ``html.escape(visible(text))``.

    Guarantees: no ``< > & " '`` (written as character references), so nothing in ``text``
    can open a tag, end an attribute value or start a character reference; printable
    (``visible``), so control characters show as their escapes as in the other formats."""
    return _html.escape(visible(text), quote=True)
