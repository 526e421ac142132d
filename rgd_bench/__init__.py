"""rgd_bench: a benchmark suite for distributionally robust training.

The public API is re-exported here lazily, so that ``import rgd_bench`` (and the
report, which never needs torch) stays light: ``RunConfig`` and ``run`` (one run, the
engine), the registries, ``Algorithm``, ``MultipleDomainDataset``, ``make_report``.

Packages, and what each may import (arrows point one way):

- ``registry``, ``hparams``, ``values``, ``errors``, ``rundir``, ``plugins``: the ground
  floor; they import nothing else of rgd_bench (``plugins`` imports the registries).
- ``algorithms``, ``datasets``, ``networks``: what the registries hold; the ground floor.
- ``engine``: one run; the above.  ``sweep``: plans and launches runs; the engine's config,
  protocols and run lock, and the above.  ``report``: reads run directories; ``rundir``,
  ``values``, ``errors`` only, never torch.
- ``train``, ``sweep.cli``, ``report.cli``, ``paper_checks``: command lines over the above.
- ``integrations``: the edge (DomainBed, WILDS's examples); anything above, and nothing in
  the core imports it.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ALGORITHMS": "rgd_bench.registry",
    "DATASETS": "rgd_bench.registry",
    "Registry": "rgd_bench.registry",
    "HParam": "rgd_bench.hparams",
    "seed_hash": "rgd_bench.hparams",
    "resolve_hparams": "rgd_bench.hparams",
    "UsageError": "rgd_bench.errors",
    "MissingDataError": "rgd_bench.errors",
    "Algorithm": "rgd_bench.algorithms.base",
    "MultipleDomainDataset": "rgd_bench.datasets.base",
    "make_report": "rgd_bench.report",
    "import_plugins": "rgd_bench.plugins",
    "RunConfig": "rgd_bench.engine.config",
    "run": "rgd_bench.engine.runner",
    "RunSummary": "rgd_bench.engine.loop",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rgd_bench' has no attribute {name!r}")
