"""Training protocols: one object per protocol owns everything that differs between them.

Its flags (their rules, defaults and checks), how a sweep expands its test environments,
which arguments a run records, and, once its data is loaded (``open``), how batches are
drawn and what is evaluated.  A dataset class names its protocol in ``PROTOCOL`` (default
``"domainbed"``); ``protocol_of`` is the one place that reads it, so nothing else asks for a
protocol by name.

This package is torch-free until ``open``: the sweep plans with it.  It may import the
engine's ``batches``, ``datasets.base``, ``hparams``, ``values``, ``errors`` and ``rundir``
(and ``wilds``, through ``datasets``); the loop asks a protocol, never the reverse.
"""
from __future__ import annotations

from rgd_bench.engine.protocols.base import Flag, Protocol
from rgd_bench.engine.protocols.domainbed import DOMAINBED
from rgd_bench.engine.protocols.subpopulation import SUBPOPULATION
from rgd_bench.engine.protocols.wilds import WILDS

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (DOMAINBED, WILDS, SUBPOPULATION)}
# Every protocol's flags, declared by their protocols: the command line offers them all, and a
# run refuses those of other protocols.
PROTOCOL_FLAGS: dict[str, Flag] = {name: flag for p in PROTOCOLS.values() for name, flag in p.flags.items()}


def protocol_of(dataset_cls: type) -> Protocol:
    """The protocol that runs on ``dataset_cls``."""
    return PROTOCOLS[getattr(dataset_cls, "PROTOCOL", DOMAINBED.name)]


def flags_of_others(protocol: Protocol) -> dict[str, str]:
    """The flags of the other protocols, each with its protocol's label."""
    return {name: p.label for p in PROTOCOLS.values() if p is not protocol
            for name in p.flags if name not in protocol.flags}


__all__ = ["DOMAINBED", "SUBPOPULATION", "WILDS", "Flag", "PROTOCOLS", "PROTOCOL_FLAGS", "Protocol", "flags_of_others", "protocol_of"]
