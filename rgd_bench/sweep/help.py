"""The sweep's ``--help``: each command, what each key is when left out, and the names a sweep
may use (algorithms, datasets, launchers), read from where they are declared."""
from __future__ import annotations

import importlib
from typing import Any

from rgd_bench._cli import describe_default, term_lines
from rgd_bench.sweep.keys import Option
from rgd_bench.engine.config import UNSET_MEANS

COMMANDS = {
    "launch": "run every job that is not done (failed and interrupted ones again, resumed from their "
              "checkpoints; jobs running elsewhere are left alone, jobs an earlier launch left on Slurm are "
              "waited on with the submitit launcher), then print the leaderboard",
    "status": "count the jobs of each dataset x algorithm by state (done, running, queued on Slurm, "
              "incomplete, failed, not launched) and show the last error line of each failed job",
    "list": "print every planned job: its state, its run directory and its arguments",
    "delete_incomplete": "delete the run directories of incomplete and failed jobs (running and queued ones are "
                         "kept)",
}


def usage(command: str | None) -> str:
    return f"%(prog)s {command or 'COMMAND'} [SWEEP.toml] [options]"


def default_of(option: Option, default_sweep: dict[str, Any]) -> str:
    """"(default: ...)" of a sweep key: what it is when neither a flag nor the sweep file sets it
    (its declared default, or what its declaration or the train command says happens then),
    and, where it differs, what the default sweep sets."""
    key = option.name
    if option.required:
        shown = f"; the default sweep: {describe_default(default_sweep[key])}" if key in default_sweep else ""
        return f"(required, unless a sweep file sets it{shown})"
    if option.default is not None:
        plain = option.default
        text = describe_default(plain)
    else:
        plain = None
        text = option.unset_text() or UNSET_MEANS.get(key)
        if text is None:  # a new key nobody described yet: tests/test_cli_help.py fails on it
            return ""
    if key in default_sweep and default_sweep[key] != plain:
        text += f"; the default sweep: {describe_default(default_sweep[key])}"
    return f"(default: {text})"


def _launcher_lines() -> list[str]:
    """Each launcher with the first paragraph of its module's docstring ("``name``: what it does")."""
    from rgd_bench.sweep.launchers import LAUNCHERS

    terms = {}
    for name, where in LAUNCHERS.items():
        doc = (importlib.import_module(where.split(":")[0]).__doc__ or "").split("\n\n")[0]
        terms[name] = " ".join(doc.replace("``", "").split()).removeprefix(f"{name}:").strip()
    return term_lines("Launchers (--launcher)", terms)


def epilog(namespace, default_sweep: dict[str, Any]) -> str:
    """Commands, the default sweep, and the algorithms, datasets and launchers a sweep may name."""
    from rgd_bench.train import registry_lines

    command = getattr(namespace, "command", None)
    paragraphs = [] if command else [term_lines("Commands", COMMANDS)]
    paragraphs += [*registry_lines(namespace), _launcher_lines(),
                   term_lines("The default sweep (no sweep file, no --datasets, no --algorithms; "
                              "as sweeps/default.toml)", {k: describe_default(v) for k, v in default_sweep.items()}),
                   "A sweep file holds the same keys as the flags (a flag wins), and may add a [train_args] "
                   "table: other flags of python -m rgd_bench.train, for every job."]
    return "\n\n".join(paragraphs)
