"""The edge: rgd_bench inside other codebases, and DomainBed's algorithms inside rgd_bench.

Each module names its direction:

- ``into_domainbed``: rgd_bench's RGD, SGD_HWS and ALSO inside a real DomainBed checkout on
  ``PYTHONPATH``, with DomainBed's own networks (``into_domainbed_networks``) and, for SGD_HWS,
  hardness-weighted loaders in DomainBed's loop (``into_domainbed_hws``); its command line is
  ``python -m rgd_bench.integrations.into_domainbed train|sweep|collect_results``.
- ``wilds_examples``: the same three inside WILDS's ``examples/run_expt.py``
  (``python -m rgd_bench.integrations.wilds_examples --examples_dir PATH ...``).
- ``from_domainbed``: DomainBed's own algorithms (IRM, CORAL, ...) inside rgd_bench,
  registered in ``ALGORITHMS`` like any third-party plugin, through the entry point
  ``domainbed`` of the group ``rgd_bench.algorithms`` (pyproject.toml).

WILDS's datasets are not here: they are datasets (``rgd_bench.datasets.wilds_benchmarks``,
``wilds_support``, ``wilds_synthetic``), which ``wilds_examples`` imports.

What may import what: this package may import anything of rgd_bench; nothing in the core
(registries, engine, algorithms, datasets, networks, sweep, report, command lines) imports it.
The registry reaches ``from_domainbed`` only as it reaches any plugin, by its entry point
(tests/test_core_imports.py checks both).
"""
