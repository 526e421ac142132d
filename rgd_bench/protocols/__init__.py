"""Training protocols: what a run trains on, how batches are drawn, and what is evaluated.

``domainbed``: every environment split into in/out, one minibatch per training
environment, accuracy of every split at each checkpoint.  ``wilds``: WILDS's fixed
splits, one batch from ``train`` split by group, the dataset's official ``eval()`` on
every other split.  A dataset class names its protocol in ``PROTOCOL``.
"""
from __future__ import annotations


def make_protocol(plan):
    """The protocol of ``plan``'s dataset, with its data loaded and checked."""
    if getattr(plan.dataset_cls, "PROTOCOL", "domainbed") == "wilds":
        from rgd_bench.protocols.wilds import WildsProtocol

        return WildsProtocol(plan)
    from rgd_bench.protocols.domainbed import DomainBedProtocol

    return DomainBedProtocol(plan)
