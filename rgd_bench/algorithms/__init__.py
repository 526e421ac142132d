"""Built-in algorithms; importing this package registers them in ``ALGORITHMS``."""
from rgd_bench.algorithms import also, erm, groupdro, hws, rgd  # noqa: F401  (registration)
from rgd_bench.algorithms.base import Algorithm
from rgd_bench.integrations import domainbed_algorithms

domainbed_algorithms.register()  # DomainBed's own algorithms, when a DomainBed checkout is importable

__all__ = ["Algorithm"]
