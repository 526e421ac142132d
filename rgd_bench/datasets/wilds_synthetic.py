"""``synthetic_waterbirds``: a small WILDS dataset made in memory, in the manner of Waterbirds.

Label y (landbird 0, waterbird 1) x spurious attribute ``background`` (land 0, water 1)
gives four groups.  In ``train`` the background agrees with the label 95% of the time, so
the two minority groups are rare; ``val`` and ``test`` are balanced over the four groups,
as Waterbirds' are.  Each example has 10 features: 2 carry the label weakly (the real
signal), 2 carry the background strongly (the shortcut), 6 are noise.  A model that takes
the shortcut does well on average and badly on the worst group; the official metric is
worst-group accuracy (``acc_wg``), as Waterbirds'.

Everything WILDS does with a dataset runs on it: splits, ``get_subset``, the
``CombinatorialGrouper`` over ``background`` and ``y``, and the official ``eval``.
"""
from __future__ import annotations

import os

import torch

from rgd_bench.datasets._wilds_import import import_wilds

import_wilds()
from wilds.common.grouper import CombinatorialGrouper  # noqa: E402  (after import_wilds)
from wilds.common.metrics.all_metrics import Accuracy  # noqa: E402
from wilds.datasets.wilds_dataset import WILDSDataset  # noqa: E402

SPLITS = {"train": 0, "val": 1, "test": 2}
GROUP_SIZES = {  # examples per (y, background) group in each split
    "train": {(0, 0): 950, (0, 1): 50, (1, 0): 50, (1, 1): 950},
    "val": {(0, 0): 100, (0, 1): 100, (1, 0): 100, (1, 1): 100},
    "test": {(0, 0): 250, (0, 1): 250, (1, 0): 250, (1, 1): 250},
}
N_FEATURES = 10
DATA_SEED = 0


class SyntheticWaterbirds(WILDSDataset):
    _dataset_name = "synthetic_waterbirds"
    _versions_dict = {"1.0": {"download_url": None, "compressed_size": None}}

    def __init__(self, version=None, root_dir="data", download=False, split_scheme="official"):
        self._version = "1.0"
        if split_scheme != "official":
            raise ValueError(f"synthetic_waterbirds: split_scheme must be 'official'; got {split_scheme!r}")
        self._split_scheme = split_scheme
        # Made in memory: nothing is read from root_dir; WILDS only checks the folder exists.
        self._data_dir = os.path.dirname(os.path.abspath(__file__))
        self._split_dict = dict(SPLITS)
        self._split_names = {"train": "Train", "val": "Validation (balanced)", "test": "Test (balanced)"}
        x, y, background, split = _generate()
        self._x = x
        self._y_array = y
        self._y_size = 1
        self._n_classes = 2
        self._split_array = split
        self._metadata_array = torch.stack([background, y], dim=1)
        self._metadata_fields = ["background", "y"]
        self._metadata_map = {"background": ["land", "water"], "y": ["landbird", "waterbird"]}
        self._eval_grouper = CombinatorialGrouper(dataset=self, groupby_fields=["background", "y"])
        super().__init__(root_dir, download, split_scheme)

    def get_input(self, idx):
        return self._x[idx]

    def input_tensor(self) -> torch.Tensor:
        """Every input at once: the engine indexes it instead of reading item by item."""
        return self._x

    def eval(self, y_pred, y_true, metadata, prediction_fn=None):
        """Accuracy on average and per (background, y) group, and the worst group's (acc_wg)."""
        metric = Accuracy(prediction_fn=prediction_fn)
        return self.standard_group_eval(metric, self._eval_grouper, y_pred, y_true, metadata)


def _generate() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(DATA_SEED)
    xs, ys, backgrounds, splits = [], [], [], []
    for split, sizes in GROUP_SIZES.items():
        for (y, background), n in sizes.items():
            sign_y, sign_b = 2.0 * y - 1.0, 2.0 * background - 1.0
            x = torch.randn(n, N_FEATURES, generator=generator)
            x[:, :2] = 0.5 * sign_y + torch.randn(n, 2, generator=generator)  # weak, real signal
            x[:, 2:4] = 2.0 * sign_b + 0.3 * torch.randn(n, 2, generator=generator)  # strong shortcut
            xs.append(x)
            ys.append(torch.full((n,), y, dtype=torch.long))
            backgrounds.append(torch.full((n,), background, dtype=torch.long))
            splits.append(torch.full((n,), SPLITS[split], dtype=torch.long))
    return torch.cat(xs), torch.cat(ys), torch.cat(backgrounds), torch.cat(splits).numpy()


SYNTHETIC_DATASETS = {SyntheticWaterbirds._dataset_name: SyntheticWaterbirds}
