"""WILDS's protocol (``examples/run_expt.py`` of WILDS 2.0.0): fixed splits, batches split by
group, the dataset's official ``eval()`` (data: ``wilds_data``)."""
from __future__ import annotations

import argparse
from typing import Any

from rgd_bench.engine.protocols.base import Flag, Protocol
from rgd_bench.errors import UsageError
from rgd_bench.values import Spec

_WORDS = {"true": True, "false": False}


def _true_or_false(text: str) -> bool:
    if text not in _WORDS:
        raise argparse.ArgumentTypeError(f"must be true or false. Got {text!r} instead.")
    return _WORDS[text]


class WildsProtocol(Protocol):
    name, label = "wilds", "WILDS"
    domains_may_be_empty = True  # a group can miss from a batch
    flags = {
        "groupby_fields": Flag(Spec(list, item=Spec(str)), None, "the dataset's, as in WILDS's configs",
                               "WILDS datasets: metadata fields whose combinations are the groups"),
        "uniform_over_groups": Flag(Spec(bool), None, "the algorithm's; true for GroupDRO, as WILDS",
                                    "WILDS datasets: draw batches uniformly over groups", parse=_true_or_false),
    }

    def check(self, config, dataset_cls: type, algorithm_cls: type) -> None:
        if config.uniform_over_groups and algorithm_cls.SAMPLES_EXAMPLES:
            raise UsageError(f"--uniform_over_groups true does not apply to {config.algorithm}, which "
                             f"chooses its own training examples; leave the flag out.")

    def recorded_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """``uniform_over_groups`` as the command line's word (``"true"``/``"false"``), as it has
        always been recorded."""
        uniform = args.get("uniform_over_groups")
        return {**args, "uniform_over_groups": None if uniform is None else ("true" if uniform else "false")}

    def test_env_sets(self, dataset_cls: type, single_test_envs: bool) -> list[list[int] | None]:
        """WILDS's splits are fixed: one job per algorithm, hparams and trial."""
        return [None]

    def open(self, run):
        from rgd_bench.engine.protocols.wilds_data import WildsData

        return WildsData(run)


WILDS = WildsProtocol()
