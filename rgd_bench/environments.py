"""Environment names per dataset, importable without torch.

The dataset classes take their ``ENVIRONMENTS`` from here, and the report (which must not
import torch) uses the same table to label its columns.  DomainBed's own datasets are listed
too, so that the report labels runs written by DomainBed as DomainBed does.  Datasets in
neither list (plugins) are labelled ``env0``, ``env1``, ... from their records.
"""
from __future__ import annotations

ENVIRONMENTS: dict[str, list[str]] = {
    # rgd_bench's embedded datasets
    "SpuriousTabular": ["+90%", "+80%", "-90%"],
    "ColoredMNIST5k": ["+90%", "+80%", "-90%"],
    "RotatedMNIST5k": ["0", "15", "30", "45", "60", "75"],
    "ImbalancedMNIST": ["train", "3s", "other digits"],
    "ImbalancedMNIST10": ["train", "3s", "other digits"],
    "BreastCancer": ["train", "test"],
    "Wine": ["train", "test"],
    "Digits8x8": ["train", "test"],
    # DomainBed's datasets, in DomainBed's order (``domainbed.datasets.DATASETS``)
    "Debug28": ["0", "1", "2"],
    "Debug224": ["0", "1", "2"],
    "ColoredMNIST": ["+90%", "+80%", "-90%"],
    "RotatedMNIST": ["0", "15", "30", "45", "60", "75"],
    "VLCS": ["C", "L", "S", "V"],
    "PACS": ["A", "C", "P", "S"],
    "OfficeHome": ["A", "C", "P", "R"],
    "TerraIncognita": ["L100", "L38", "L43", "L46"],
    "DomainNet": ["clip", "info", "paint", "quick", "real", "sketch"],
    "SVIRO": ["aclass", "escape", "hilux", "i3", "lexus", "tesla", "tiguan", "tucson", "x5", "zoe"],
    "WILDSCamelyon": [f"hospital_{i}" for i in range(5)],
    "WILDSFMoW": [f"region_{i}" for i in range(6)],
    **{f"Spawrious{kind}_{level}": ["Test", "SC_group_1", "SC_group_2"]
       for kind in ("O2O", "M2M") for level in ("easy", "medium", "hard")},
}

# The order datasets appear in reports: the table above, then any other name alphabetically.
DATASET_ORDER: list[str] = list(ENVIRONMENTS)


def environment_names(dataset: str, n_envs: int) -> list[str]:
    """Column labels for ``dataset``'s ``n_envs`` environments."""
    names = ENVIRONMENTS.get(dataset)
    if names is not None and len(names) == n_envs:
        return list(names)
    return [f"env{i}" for i in range(n_envs)]
