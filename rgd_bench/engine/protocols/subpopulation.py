"""The subpopulation protocol, as SubpopBench's ("Change is Hard", Yang et al., ICML 2023):
fixed train, val and test splits of examples with a label and an attribute, batches split by
group, and at each checkpoint SubpopBench's metrics on every split (data: ``subpopulation_data``).

``--train_attr yes|no`` (SubpopBench's flag, part of the run's identity and a sweep axis) says
whether training may know the attributes: with ``yes`` the groups of the group-based algorithms
(GroupDRO, ALSO, ReWeight, ReSample) are the label x attribute groups, with ``no`` the classes.
The metrics always use the true groups."""
from __future__ import annotations

import argparse

from rgd_bench.engine.protocols.base import Flag, Protocol
from rgd_bench.values import Spec

TRAIN_ATTR = ("yes", "no")


def _yes_or_no(text: str) -> str:
    if text not in TRAIN_ATTR:
        raise argparse.ArgumentTypeError(f"must be yes or no. Got {text!r} instead.")
    return text


class SubpopulationProtocol(Protocol):
    name, label = "subpopulation", "subpopulation"
    domains_may_be_empty = True  # a group can miss from a batch
    flags = {
        "train_attr": Flag(Spec(str, choices=TRAIN_ATTR), "yes", "yes, as SubpopBench",
                           "subpopulation datasets: whether training knows the attributes (yes: groups are "
                           "label x attribute; no: the classes)", parse=_yes_or_no),
    }

    def test_env_sets(self, dataset_cls: type, single_test_envs: bool) -> list[list[int] | None]:
        """The splits are fixed: one job per algorithm, attribute setting, hparams and trial."""
        return [None]

    def sweep_variants(self, dataset_cls: type, spec) -> list[dict[str, str]]:
        """One job per attribute setting of ``spec.train_attr``; a dataset without attributes
        (its groups are its classes either way) once, with ``no`` where it is asked for."""
        settings = list(dict.fromkeys(spec.train_attr))
        if dataset_cls.ATTRIBUTE is None and settings:
            settings = ["no" if "no" in settings else settings[0]]
        return [{"train_attr": setting} for setting in settings]

    def open(self, run):
        from rgd_bench.engine.protocols.subpopulation_data import SubpopulationData

        return SubpopulationData(run)


SUBPOPULATION = SubpopulationProtocol()
