"""Built-in datasets; importing this package registers them in ``DATASETS``."""
from rgd_bench.datasets import (  # noqa: F401  (registration)
    images, imbalanced_mnist, mnist, sklearn_tabular, tabular, wilds_benchmarks)
from rgd_bench.datasets.base import MultipleDomainDataset, split_dataset

__all__ = ["MultipleDomainDataset", "split_dataset"]
