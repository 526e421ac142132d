"""Command-line plumbing shared by the entry points: one-line errors and exit code 2."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NoReturn

from rgd_bench._printable import visible
from rgd_bench.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is a UsageError: one line and exit code 2 under
    ``run_cli``, and a message a caller can catch (a sweep checks its jobs' flags with the
    train parser before it writes anything)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def lookup(registry, name: str, flag: str | None = None):
    """``registry.get(name)``, an unknown name reported as a UsageError (with did-you-mean)."""
    try:
        return registry.get(name)
    except KeyError as error:
        raise UsageError(f"{flag}: {error.args[0]}" if flag else error.args[0]) from None


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
