"""Built-in datasets; importing this package registers them in ``DATASETS``."""
from rgd_bench.datasets import images, mnist, tabular, wilds_benchmarks  # noqa: F401  (registration)
from rgd_bench.datasets.base import MultipleDomainDataset, split_dataset

__all__ = ["MultipleDomainDataset", "split_dataset"]
