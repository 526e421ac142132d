"""The engine: one run, from a ``RunConfig`` to a finished run directory.

    from rgd_bench import RunConfig, run
    summary = run(RunConfig(dataset="SpuriousTabular", algorithm="RGD", steps=301, output_dir="runs/rgd"))

Modules, one job each: ``config`` (RunConfig), ``resolution`` (every check, before anything is
written), ``protocols`` (DomainBed's and WILDS's rules, batches and evaluation), ``batches``
(minibatches as a pure function of seed and step), ``loop`` (steps, records, checkpoints), ``runner`` (``run``),
``checkpoint``, ``runlock`` (one process per run directory) and ``progress``.

May import: the registries (``registry``, ``hparams``, ``algorithms``, ``datasets``,
``networks``), ``rundir``, ``values``, ``errors``, ``plugins``; never ``sweep``, ``report``,
``integrations`` or a command line.  ``import rgd_bench.engine`` is torch-free: torch is
imported when a run starts.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"RunConfig": "rgd_bench.engine.config", "run": "rgd_bench.engine.runner",
            "RunSummary": "rgd_bench.engine.loop", "resolve": "rgd_bench.engine.resolution",
            "ResolvedRun": "rgd_bench.engine.resolution"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rgd_bench.engine' has no attribute {name!r}")
