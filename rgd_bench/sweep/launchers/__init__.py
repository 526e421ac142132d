"""Launchers by name; optional backends (submitit, ray) import lazily."""
from __future__ import annotations

import importlib

from rgd_bench.errors import UsageError

LAUNCHERS = {
    "local": "rgd_bench.sweep.launchers.local:LocalLauncher",
    "multiprocess": "rgd_bench.sweep.launchers.multiprocess:MultiprocessLauncher",
    "dry_run": "rgd_bench.sweep.launchers.dry_run:DryRunLauncher",
}


def launcher_class(name: str):
    if name not in LAUNCHERS:
        raise UsageError(f"--launcher {name!r} is not a launcher; choose one of {', '.join(LAUNCHERS)}.")
    module, cls = LAUNCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)
