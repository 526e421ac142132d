"""Command-line plumbing shared by the entry points: one-line errors and exit code 2."""
from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from typing import Any, Callable, Iterable, NoReturn

from rgd_bench._printable import visible
from rgd_bench.errors import UsageError


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with every option's default (as ``ArgumentDefaultsHelpFormatter``) and
    text that keeps its line breaks.  An option whose help already says "default:" is left as it
    is: a default of None must say there what actually happens ("default: the dataset's N_STEPS")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = (action.help or "").replace("%", "%%")
        if not action.option_strings or "default:" in text or action.default is argparse.SUPPRESS:
            return text
        if action.default is None and action.nargs != 0:
            return text  # the help must say it; tests/test_cli_help.py checks every option does
        shown = "off" if action.nargs == 0 and not action.default else describe_default(action.default)
        return f"{text} (default: {shown})" if text else f"default: {shown}"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Each line wrapped on its own, continued at its own indentation, or for a "term  text"
        line (two spaces or more after the first word) under its text."""
        lines = []
        for line in text.splitlines():
            body = line.lstrip()
            lead = indent + line[:len(line) - len(body)]
            term = re.match(r"\S+ {2,}", body)
            hang = lead + " " * (term.end() if term else 0)
            lines.append(textwrap.fill(body, width, initial_indent=lead, subsequent_indent=hang,
                                       break_long_words=False, break_on_hyphens=False) if body else "")
        return "\n".join(lines)


def describe_default(value: Any) -> str:
    """A default as a user would type it: lists space-separated, booleans as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) if value else "none"
    return "none" if value is None else str(value)


def name_list(title: str, names: Iterable[str]) -> str:
    """A paragraph of a help text's epilog: "Title:" and, indented below, "a, b, c"."""
    return f"{title}:\n  {', '.join(names) or 'none'}"


def term_lines(title: str, terms: dict[str, str]) -> str:
    """A paragraph of a help text's epilog: "Title:" and one "  term  text" line per term."""
    width = max(map(len, terms), default=0)
    return "\n".join([f"{title}:", *(f"  {term:<{width}}  {text}" for term, text in terms.items())])


class _HelpAction(argparse.Action):
    """-h/--help: runs the parser's ``before_help`` hook (which may fill the epilog from the
    registries, or describe the sub-command already given) with the arguments read so far."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show this help and exit"):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        if parser.before_help is not None:
            parser.before_help(parser, namespace)
        parser.print_help()
        parser.exit()


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is a UsageError: one line and exit code 2 under
    ``run_cli``, and a message a caller can catch (a sweep checks its jobs' flags with the
    train parser before it writes anything).  Help shows every default (``HelpFormatter``);
    ``before_help(parser, namespace)`` runs only when help is asked for, so that listing the
    registries (which imports torch) costs nothing otherwise."""

    def __init__(self, *args, before_help: Callable[[argparse.ArgumentParser, argparse.Namespace], None] | None = None,
                 add_help: bool = True, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, add_help=False, **kwargs)
        self.before_help = before_help
        if add_help:
            self.add_argument("-h", "--help", action=_HelpAction)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def run_cli(main: Callable[[], int | None], prog: str) -> NoReturn:
    """Run ``main``; report a ``UsageError`` as one line on stderr and exit 2 (or its own
    ``exit_code``).  A reader that stops reading (``| head``) ends the command quietly with
    the exit code of a process killed by SIGPIPE, as other Unix tools do."""
    try:
        code = main()
        sys.stdout.flush()
    except UsageError as error:  # one line, whatever the message quotes from the input
        print(f"{prog}: error: {visible(str(error))}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # Nothing more can reach the reader; point stdout at /dev/null so that Python's own
        # flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + 13)
    sys.exit(code or 0)
