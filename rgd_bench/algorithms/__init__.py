"""Built-in algorithms; importing this package registers them in ``ALGORITHMS``."""
from rgd_bench.algorithms import also, erm, groupdro, hws, rgd  # noqa: F401  (registration)
from rgd_bench.algorithms.base import Algorithm

__all__ = ["Algorithm"]
