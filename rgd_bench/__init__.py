"""rgd_bench: a benchmark suite for distributionally robust training.

The public API is re-exported here lazily, so that ``import rgd_bench`` (and the
report, which never needs torch) stays light.
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
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rgd_bench' has no attribute {name!r}")
