"""Launchers by name; optional backends (submitit, ray) import lazily.  A launcher runs jobs
through ``sweep.jobs`` and imports nothing of the engine beyond its run lock.

Each launcher declares its options (``Launcher.OPTIONS``); the sweep's flags, sweep-file keys
and --help groups are read from them (``launcher_options``), and ``make_launcher`` hands each
launcher its own.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from rgd_bench._cli import describe_default
from rgd_bench.errors import UsageError
from rgd_bench.sweep.keys import Option

LAUNCHERS = {
    "local": "rgd_bench.sweep.launchers.local:LocalLauncher",
    "multiprocess": "rgd_bench.sweep.launchers.multiprocess:MultiprocessLauncher",
    "dry_run": "rgd_bench.sweep.launchers.dry_run:DryRunLauncher",
    "submitit": "rgd_bench.sweep.launchers.submitit_launcher:SubmititLauncher",
    "ray": "rgd_bench.sweep.launchers.ray_launcher:RayLauncher",
}


def make_launcher(settings: dict):
    """The launcher named in ``settings``, with its options from the same settings."""
    return launcher_class(settings["launcher"]).from_settings(settings)


@dataclass(frozen=True)
class LauncherOption:
    """An option as the sweep shows it: one key, and the launchers that read it."""

    option: Option
    launchers: tuple[str, ...]


def launcher_options() -> dict[str, LauncherOption]:
    """Every launcher's options by name, in the order of ``LAUNCHERS``.  An option that several
    launchers read must be the same key (one Spec, one help); where their defaults differ, its
    default says each one ("2 with submitit, 1 with ray")."""
    uses: dict[str, dict[str, Option]] = {}
    for name in LAUNCHERS:
        for option in launcher_class(name).OPTIONS:
            uses.setdefault(option.name, {})[name] = option
    merged = {}
    for key, by_launcher in uses.items():
        first = next(iter(by_launcher.values()))
        if any((option.spec, option.help) != (first.spec, first.help) for option in by_launcher.values()):
            raise ValueError(f"The launchers {', '.join(by_launcher)} declare the option {key!r} differently; "
                             f"declare it once (launchers/base.py) and give each launcher only its default.")
        if len({(option.default, option.unset) for option in by_launcher.values()}) > 1:
            first = first.but(default=None, unset=", ".join(
                f"{_default_text(option)} with {launcher}" for launcher, option in by_launcher.items()))
        merged[key] = LauncherOption(first, tuple(by_launcher))
    return merged


def _default_text(option: Option) -> str:
    return describe_default(option.default) if option.default is not None else option.unset_text() or "none"


def launcher_class(name: str):
    if name not in LAUNCHERS:
        raise UsageError(f"--launcher {name!r} is not a launcher; choose one of {', '.join(LAUNCHERS)}.")
    module, cls = LAUNCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)
