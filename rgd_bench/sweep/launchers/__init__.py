"""Launchers by name; optional backends (submitit, ray) import lazily."""
from __future__ import annotations

import importlib

from rgd_bench.errors import UsageError

LAUNCHERS = {
    "local": "rgd_bench.sweep.launchers.local:LocalLauncher",
    "multiprocess": "rgd_bench.sweep.launchers.multiprocess:MultiprocessLauncher",
    "dry_run": "rgd_bench.sweep.launchers.dry_run:DryRunLauncher",
    "submitit": "rgd_bench.sweep.launchers.submitit_launcher:SubmititLauncher",
    "ray": "rgd_bench.sweep.launchers.ray_launcher:RayLauncher",
}


def make_launcher(settings: dict):
    """The launcher named in ``settings``, with its options from the same settings."""
    cls = launcher_class(settings["launcher"])
    if cls.name == "multiprocess":
        return cls(settings.get("workers"), settings.get("threads"))
    if cls.name == "submitit":
        from rgd_bench.sweep.launchers.submitit_launcher import SlurmOptions

        fields = {"partition": "partition", "time_min": "time_min", "gpus": "gpus_per_job",
                  "cpus": "cpus_per_job", "mem_gb": "mem_gb", "cluster": "cluster"}
        return cls(SlurmOptions(**{k: settings[v] for k, v in fields.items() if settings.get(v) is not None}))
    if cls.name == "ray":
        options = {"address": settings.get("ray_address"), "cpus_per_job": settings.get("cpus_per_job") or 1,
                   "gpus_per_job": settings.get("gpus_per_job") or 0}
        return cls(**options)
    return cls()


def launcher_class(name: str):
    if name not in LAUNCHERS:
        raise UsageError(f"--launcher {name!r} is not a launcher; choose one of {', '.join(LAUNCHERS)}.")
    module, cls = LAUNCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)
