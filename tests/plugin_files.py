"""A plugin file, as a user writes one, for the tests of ``--plugins``: an algorithm and a
dataset with one fixed test environment (one job per algorithm in a sweep: quick)."""
from __future__ import annotations

import os

PLUGIN_SOURCE = '''
"""A user's plugin: one algorithm and one dataset."""
from rgd_bench import ALGORITHMS, DATASETS
from rgd_bench.algorithms.erm import ERM
from rgd_bench.datasets.tabular import SpuriousTabular


@ALGORITHMS.register()
class PluggedERM(ERM):
    def update(self, minibatches, unlabeled=None):
        return {**super().update(minibatches), "plugged": 1.0}


@DATASETS.register()
class PluggedTabular(SpuriousTabular):
    TEST_ENVS = (2,)
'''


def write_plugin(directory, name: str = "my_plugin.py", source: str = PLUGIN_SOURCE) -> str:
    """Write a plugin file into ``directory`` (made if need be); return its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path
