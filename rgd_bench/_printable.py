"""Text made printable: what every one-line message and every report format builds on."""
from __future__ import annotations


def visible(text: str) -> str:
    """``text`` with each character that is not printable written as its Python escape
    (``repr``'s: ``\\n``, ``\\x1b``, ``\\u2028``, ``\\ud800``).

    Guarantees: the result is printable (``str.isprintable()``), so it holds no control
    character, no line break of any kind and no lone surrogate (it can be written as UTF-8);
    printable text is returned unchanged."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
