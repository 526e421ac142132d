"""Built-in algorithms; importing this package registers them in ``ALGORITHMS``.

One file per algorithm, DomainBed's interface (``base.Algorithm``).  May import
``registry``, ``hparams``, ``values``, ``errors`` and ``networks``; never the engine, the
sweep, the report or ``integrations`` (DomainBed's own algorithms join ``ALGORITHMS``
through an entry point, like any plugin)."""
from rgd_bench.algorithms import (  # noqa: F401  (registration)
    also, chi2_dro, cvar_dro, erm, focal, groupdro, hws, jtt, kl_dro, resample, reweight, rgd,
)
from rgd_bench.algorithms.base import Algorithm

# DomainBed's own algorithms join ALGORITHMS as any plugin does, through the entry point
# ``rgd_bench.algorithms`` of pyproject.toml (rgd_bench.integrations.from_domainbed).

__all__ = ["Algorithm"]
