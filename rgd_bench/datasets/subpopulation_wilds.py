"""WILDS datasets under the subpopulation protocol: WILDS's train, val and test splits, its label,
and one metadata field as the attribute, so the groups are WILDS's official ones (label x
background for Waterbirds, label x male for CelebA).  The data, transforms and hyperparameters
are those of the WILDS dataset's class (``wilds_benchmarks``); only the protocol differs."""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from rgd_bench.datasets.subpopulation import SPLITS, Split, SubpopulationDataset
from rgd_bench.datasets.wilds_benchmarks import CelebA, SyntheticWaterbirdsBenchmark, Waterbirds, WildsBenchmark
from rgd_bench.registry import DATASETS


class WildsGroups(SubpopulationDataset):
    """Subclasses name the WILDS dataset's class (``BENCHMARK``) and the attribute's metadata field."""

    BENCHMARK: type[WildsBenchmark]
    ATTRIBUTE_FIELD = ""
    # Taken from BENCHMARK: its hyperparameters (WILDS's optimizer and batch size) and data needs.
    FROM_BENCHMARK = ("HPARAMS", "HPARAM_PROFILE", "HPARAMS_OVER_ALGORITHM", "NEEDS_DATA_DIR", "N_WORKERS")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for key in cls.FROM_BENCHMARK:
            setattr(cls, key, getattr(cls.BENCHMARK, key))

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        benchmark = self.BENCHMARK(root, None, hparams)
        dataset = benchmark.wilds_dataset
        self.input_shape = tuple(benchmark.input_shape)
        names = dataset.metadata_map if hasattr(dataset, "metadata_map") else {}
        self.class_names = tuple(str(n).strip() for n in names.get("y", range(benchmark.num_classes)))
        self.attribute_values = tuple(str(n).strip() for n in names.get(self.ATTRIBUTE_FIELD, range(2)))
        field = list(dataset.metadata_fields).index(self.ATTRIBUTE_FIELD)
        inputs = getattr(dataset, "input_tensor", None)  # in-memory datasets: index, don't read
        inputs = inputs() if inputs is not None and benchmark.TRANSFORM is None else None
        self.splits = {}
        for name in SPLITS:
            subset = dataset.get_subset(name, transform=benchmark.transform(name == "train"))
            y, a = torch.as_tensor(subset.y_array).long(), torch.as_tensor(subset.metadata_array[:, field]).long()
            data = subset if inputs is None else TensorDataset(inputs[torch.as_tensor(subset.indices)], y)
            self.splits[name] = Split(data, y, a)


@DATASETS.register("synthetic_waterbirds_groups")
class SyntheticWaterbirdsGroups(WildsGroups):
    """``synthetic_waterbirds`` (in memory): train 95% correlated, val and test balanced."""

    BENCHMARK, ATTRIBUTE, ATTRIBUTE_FIELD = SyntheticWaterbirdsBenchmark, "background", "background"
    N_STEPS, CHECKPOINT_FREQ = 601, 100


@DATASETS.register("waterbirds_groups")
class WaterbirdsGroups(WildsGroups):
    """WILDS's Waterbirds from --data_dir, groups label x background."""

    BENCHMARK, ATTRIBUTE, ATTRIBUTE_FIELD = Waterbirds, "background", "background"
    N_STEPS, CHECKPOINT_FREQ = 5001, 300  # SubpopBench's Waterbirds


@DATASETS.register("celebA_groups")
class CelebAGroups(WildsGroups):
    """WILDS's CelebA from --data_dir, groups label (blond hair) x male."""

    BENCHMARK, ATTRIBUTE, ATTRIBUTE_FIELD = CelebA, "male", "male"
    N_STEPS, CHECKPOINT_FREQ = 30001, 1000  # SubpopBench's CelebA
