"""Command-line plumbing shared by the entry points: one-line errors and exit code 2."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn

from rgd_bench.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is reported on one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def lookup(registry, name: str, flag: str | None = None):
    """``registry.get(name)``, an unknown name reported as a UsageError (with did-you-mean)."""
    try:
        return registry.get(name)
    except KeyError as error:
        raise UsageError(f"{flag}: {error.args[0]}" if flag else error.args[0]) from None


def run_cli(main: Callable[[], int | None], prog: str) -> NoReturn:
    """Run ``main``; report a ``UsageError`` as one line on stderr and exit 2."""
    try:
        code = main()
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
