"""Built-in datasets; importing this package registers them in ``DATASETS``.

Embedded (real MNIST digits, scikit-learn's tables), on-disk DomainBed layouts, and WILDS
datasets with their support code (``wilds_support``).  A dataset names its protocol in
``PROTOCOL`` (read only by ``rgd_bench.engine.protocols.protocol_of``).  May import
``registry``, ``hparams``, ``values``, ``errors`` and ``networks``; never the engine, the
sweep, the report or ``integrations``."""
from rgd_bench.datasets import (  # noqa: F401  (registration)
    images, imbalanced_mnist, mnist, sklearn_tabular, subpopulation_embedded, subpopulation_wilds, tabular,
    wilds_benchmarks)
from rgd_bench.datasets.base import MultipleDomainDataset, split_dataset

__all__ = ["MultipleDomainDataset", "split_dataset"]
